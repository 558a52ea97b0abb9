"""Reads a converted dataset directory's metadata and checks that the directory is complete."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

from iwo_tf.data.dataset_writer import CLASSES_TXT, DATASET_JSON, FORMAT_NAME, GROUND_TRUTH_JSON
from iwo_tf.errors import UserInputError


class DatasetNotReadyError(UserInputError, FileNotFoundError):
    """The directory is missing, incomplete (conversion unfinished) or damaged (a truncated shard).

    A user error (command-line tools print it as one line) that `except FileNotFoundError` also catches.
    """


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a converted dataset directory holds.

    Args:
        data_dir: the directory.
        class_names: index -> class name (`classes.txt`).
        feature_dim: D.
        stream_dims: widths of the feature streams (sum to D).
        subsets: dataset.json's per-subset block (counts, files, records and bytes per file).
        skipped: dataset.json's skipped block (count, by_reason, videos).
        source: how the dataset was produced (layout and options).
    """

    data_dir: str
    class_names: tuple
    feature_dim: int
    stream_dims: tuple
    subsets: dict
    skipped: dict
    source: dict

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def ground_truth_path(self) -> str:
        return os.path.join(self.data_dir, GROUND_TRUTH_JSON)

    def files(self, subset: str) -> list:
        """Absolute paths of the subset's shards.

        Raises:
            KeyError: the dataset has no such subset.
        """
        if subset not in self.subsets:
            raise KeyError(f"{self.data_dir}: no subset {subset!r} (has {sorted(self.subsets)})")
        return [os.path.join(self.data_dir, name) for name in self.subsets[subset]["files"]]

    def num_videos(self, subset: str) -> int:
        return int(self.subsets.get(subset, {}).get("num_videos", 0))


def _problem_and_info(data_dir: str):
    if not data_dir:
        return "no data directory given", None
    if not os.path.isdir(data_dir):
        return f"{data_dir} does not exist", None
    metadata_path = os.path.join(data_dir, DATASET_JSON)
    if not os.path.isfile(metadata_path):
        return (
            f"{data_dir} is incomplete: it has no {DATASET_JSON} (written last by the converter; "
            "the conversion did not finish or this is not a converted dataset)"
        ), None
    try:
        with open(metadata_path) as f:
            metadata = json.load(f)
    except (OSError, ValueError) as error:
        return f"{metadata_path} cannot be read: {error}", None
    if metadata.get("format") != FORMAT_NAME:
        return f"{metadata_path} is not an {FORMAT_NAME} description (format={metadata.get('format')!r})", None
    classes_path = os.path.join(data_dir, CLASSES_TXT)
    if not os.path.isfile(classes_path):
        return f"{data_dir} is incomplete: {CLASSES_TXT} is missing", None
    with open(classes_path) as f:
        class_names = tuple(line.rstrip("\n") for line in f if line.strip())
    if len(class_names) != metadata["num_classes"]:
        return f"{classes_path} lists {len(class_names)} classes but {DATASET_JSON} says {metadata['num_classes']}", None
    if not os.path.isfile(os.path.join(data_dir, GROUND_TRUTH_JSON)):
        return f"{data_dir} is incomplete: {GROUND_TRUTH_JSON} is missing", None
    for subset, block in metadata["subsets"].items():
        for name, size in zip(block["files"], block["bytes_per_file"]):
            path = os.path.join(data_dir, name)
            if not os.path.isfile(path):
                return f"{path} is missing (listed in {DATASET_JSON})", None
            actual = os.path.getsize(path)
            if actual != size:
                return f"{path} is damaged: {actual} bytes on disk, {size} written (truncated or replaced)", None
    info = DatasetInfo(
        data_dir=os.path.abspath(data_dir),
        class_names=class_names,
        feature_dim=int(metadata["feature_dim"]),
        stream_dims=tuple(int(d) for d in metadata["stream_dims"]),
        subsets=metadata["subsets"],
        skipped=metadata.get("skipped", {}),
        source=metadata.get("source", {}),
    )
    return None, info


def dataset_problem(data_dir: str) -> Optional[str]:
    """Why `data_dir` is not a usable converted dataset, or None when it is."""
    return _problem_and_info(data_dir)[0]


def load_dataset_info(data_dir: str) -> DatasetInfo:
    """Reads a converted dataset directory's metadata.

    Args:
        data_dir: the directory written by `python -m iwo_tf.data.convert` or the synthetic generator.

    Raises:
        DatasetNotReadyError: the directory is missing, incomplete, or a shard's size differs from
            the size recorded when it was written.
    """
    problem, info = _problem_and_info(data_dir)
    if problem is not None:
        raise DatasetNotReadyError(problem)
    return info


def verify_records(data_dir: str) -> dict:
    """Reads and parses every record of every shard; slow, meant for a one-off check of a dataset.

    Returns:
        `{subset: number of records}`.

    Raises:
        DatasetNotReadyError: naming the shard, the record's position and the last good video id
            when a record is corrupt or unparsable, or when record counts differ from dataset.json.
    """
    import tensorflow as tf

    from iwo_tf.data.schema import parse_video

    info = load_dataset_info(data_dir)
    counts = {}
    for subset, block in info.subsets.items():
        counts[subset] = 0
        for path, expected in zip(info.files(subset), block["records_per_file"]):
            index, last_video = 0, None
            try:
                for serialized in tf.data.TFRecordDataset(path):
                    video = parse_video(serialized, feature_dim=info.feature_dim)
                    last_video = video["video_id"].numpy().decode()
                    index += 1
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
                after = f" (after video {last_video!r})" if last_video else ""
                raise DatasetNotReadyError(f"{path}: record {index}{after} is corrupt: {error.message.splitlines()[0]}") from error
            if index != expected:
                raise DatasetNotReadyError(f"{path}: {index} records, {DATASET_JSON} says {expected}")
            counts[subset] += index
    return counts

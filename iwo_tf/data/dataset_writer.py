"""Writes a converted dataset directory; it only appears under its final name once complete.

A converted dataset directory holds:

* `{subset}-{i:05d}-of-{n:05d}.tfrecord`: the records (`iwo_tf.data.schema`), videos dealt round-robin
  over the shards of their subset so shards are balanced;
* `classes.txt`: one class name per line, the class index is the line number (from 0);
* `ground_truth.json`: the ground truth in ActivityNet format (what the official evaluator reads);
* `dataset.json`: metadata, written last: class count, feature and stream widths, per-subset video,
  instance and snippet counts, shard names with their record counts, byte sizes (used to detect
  truncated files) and the byte offset of every record (`record_offsets_per_file`, for random access
  by `iwo_tf.data.record_index`), and every skipped video with its reason.

Everything is written into a hidden sibling directory (`iwo_tf.data.staging`) that is renamed to the
output path at the end, so an interrupted conversion never leaves a directory that looks complete. The
output path is never a symbolic link or an input, and `overwrite` only ever replaces a converted
dataset. Leftovers of killed conversions are removed when provably stale, otherwise reported.
"""
from __future__ import annotations

import collections
import os
import sys
from typing import Mapping, Optional, Sequence

import tensorflow as tf

from iwo_tf.data import validation
from iwo_tf.data.dataset_format import CLASSES_TXT, DATASET_JSON, FORMAT_NAME, FORMAT_VERSION, GROUND_TRUTH_JSON, shard_name
from iwo_tf.data.record_index import RECORD_OVERHEAD_BYTES
from iwo_tf.data.schema import SUBSETS, VideoRecord, serialize_video
from iwo_tf.data.staging import StagingDirectory, check_output_path, clean_stale_staging
from iwo_tf.io import write_json_atomic, write_text_atomic

__all__ = ["CLASSES_TXT", "DATASET_JSON", "FORMAT_NAME", "FORMAT_VERSION", "GROUND_TRUTH_JSON", "DatasetWriter", "shard_count", "shard_name"]


class DatasetWriter:
    """Collects videos into sharded TFRecords plus the class list, ground truth and metadata.

    Use as a context manager: leaving the block normally calls `finish()`, an exception calls `abort()`.

    Args:
        output_dir: the final directory. Must not exist unless `overwrite`.
        class_names: index -> name.
        stream_dims: widths of the feature streams (D is their sum).
        num_shards: per subset, how many shard files (at least 1; capped by the subset's video count
            by the caller, see `shard_count`).
        overwrite: replace an existing `output_dir` (only once the new one is complete, and only when
            it is a converted dataset).
        source: free-form description of the input (layout, paths, options) kept in dataset.json.
        inputs: the conversion's input files and folders: the output may not be, hold or lie in one.

    Raises:
        FileExistsError: the output exists and `overwrite` is False.
        UserInputError: the output is a link, an input, or (with `overwrite`) not a converted dataset.
    """

    def __init__(
        self,
        output_dir: str,
        class_names: Sequence[str],
        stream_dims: Sequence[int],
        num_shards: Mapping[str, int],
        *,
        overwrite: bool = False,
        source: Optional[dict] = None,
        inputs: Sequence[str] = (),
    ):
        self.output_dir = check_output_path(output_dir, overwrite=overwrite, inputs=inputs)
        unknown = set(num_shards) - set(SUBSETS)
        if unknown:
            raise ValueError(f"unknown subsets {sorted(unknown)}; expected {SUBSETS}")
        if len(set(class_names)) != len(class_names):
            raise ValueError("duplicate class names in the class list")
        self.overwrite = overwrite
        self.class_names = list(class_names)
        self.class_index = {name: i for i, name in enumerate(self.class_names)}
        self.stream_dims = [int(d) for d in stream_dims]
        self.num_shards = {subset: max(1, int(n)) for subset, n in num_shards.items()}
        self.source = dict(source or {})
        self.reports = clean_stale_staging(self.output_dir)
        for line in self.reports:
            print(f"warning: {line}", file=sys.stderr)
        self._staging = StagingDirectory(self.output_dir, overwrite=overwrite)
        self.work_dir = self._staging.path
        self._writers = {}
        self._records = collections.defaultdict(int)  # (subset, shard) -> record count
        self._offsets = collections.defaultdict(list)  # (subset, shard) -> byte offset of each record
        self._bytes = collections.defaultdict(int)  # (subset, shard) -> bytes written
        self._written = collections.Counter()  # subset -> videos written
        self._instances = collections.Counter()
        self._snippets = collections.Counter()
        self._ground_truth = {}
        self._skipped = []
        self._closed = False

    # --- adding videos ---------------------------------------------------------------------------
    def add(self, record: VideoRecord, *, source_path: Optional[str] = None) -> None:
        """Validates and writes one video.

        Args:
            record: the video; its `stream_dims` are set to the dataset's.
            source_path: the file its features came from (for error messages).

        Raises:
            BadVideoError: duplicate id, wrong feature width, zero snippets, NaN/Inf, or a label index
                outside the class list.
        """
        video_id = record.video_id
        if video_id in self._ground_truth:
            raise validation.BadVideoError(validation.DUPLICATE_ID, video_id, source_path, "the video id occurs twice in the input")
        if record.subset not in self.num_shards:
            raise ValueError(f"video {video_id!r}: subset {record.subset!r} has no shards (expected one of {sorted(self.num_shards)})")
        features = validation.check_features(record.features, video_id=video_id, path=source_path, stream_dims=self.stream_dims)
        bad = sorted({int(c) for c in list(record.labels) + list(record.gt_labels) if not 0 <= int(c) < len(self.class_names)})
        if bad:
            raise validation.BadVideoError(validation.UNKNOWN_LABEL, video_id, source_path, f"class indices {bad} are outside the class list")
        record = VideoRecord(**{**record.__dict__, "features": features, "stream_dims": self.stream_dims})
        serialized = serialize_video(record)
        subset = record.subset
        shard = self._written[subset] % self.num_shards[subset]
        self._writer(subset, shard).write(serialized)
        self._offsets[(subset, shard)].append(self._bytes[(subset, shard)])
        self._bytes[(subset, shard)] += RECORD_OVERHEAD_BYTES + len(serialized)
        self._records[(subset, shard)] += 1
        self._written[subset] += 1
        self._instances[subset] += len(record.gt_labels)
        self._snippets[subset] += int(features.shape[0])
        self._ground_truth[video_id] = {
            "subset": subset,
            "duration": float(record.duration),
            "annotations": [
                {"label": self.class_names[int(c)], "segment": [float(s), float(e)]}
                for (s, e), c in zip(record.gt_segments, record.gt_labels)
            ],
        }

    def skip(self, error: validation.BadVideoError, subset: Optional[str] = None) -> None:
        """Records a video that is deliberately left out; it is counted and listed in dataset.json."""
        self._skipped.append(
            {"video_id": error.video_id, "subset": subset, "reason": error.reason, "file": error.path, "problem": error.problem}
        )

    @property
    def skipped(self) -> list:
        return list(self._skipped)

    def counts(self) -> dict:
        """Subset -> videos written so far."""
        return {subset: self._written[subset] for subset in self.num_shards}

    def instance_counts(self) -> dict:
        """Subset -> ground-truth instances written so far."""
        return {subset: self._instances[subset] for subset in self.num_shards}

    def _writer(self, subset: str, shard: int):
        key = (subset, shard)
        if key not in self._writers:
            path = os.path.join(self.work_dir, shard_name(subset, shard, self.num_shards[subset]))
            self._writers[key] = tf.io.TFRecordWriter(path)
        return self._writers[key]

    # --- finishing -------------------------------------------------------------------------------
    def finish(self) -> str:
        """Writes the class list, ground truth and dataset.json, then moves the directory into place.

        Returns:
            The output directory.
        """
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
        subsets = {}
        for subset, count in self.num_shards.items():
            files, records, sizes, offsets = [], [], [], []
            for shard in range(count):
                name = shard_name(subset, shard, count)
                path = os.path.join(self.work_dir, name)
                if not os.path.exists(path):  # an empty shard is still a valid, readable file
                    tf.io.TFRecordWriter(path).close()
                files.append(name)
                records.append(self._records[(subset, shard)])
                sizes.append(os.path.getsize(path))
                offsets.append(self._offsets[(subset, shard)])
                if sizes[-1] != self._bytes[(subset, shard)]:
                    raise OSError(f"{path}: {sizes[-1]} bytes on disk after writing {self._bytes[(subset, shard)]}")
            subsets[subset] = {
                "num_videos": self._written[subset],
                "num_instances": self._instances[subset],
                "num_snippets": self._snippets[subset],
                "files": files,
                "records_per_file": records,
                "bytes_per_file": sizes,
                "record_offsets_per_file": offsets,
            }
        write_text_atomic(os.path.join(self.work_dir, CLASSES_TXT), "".join(f"{name}\n" for name in self.class_names))
        ground_truth = {
            "version": f"{FORMAT_NAME} {FORMAT_VERSION}",
            "taxonomy": [{"nodeId": i, "nodeName": name, "parentId": None, "parentName": None} for i, name in enumerate(self.class_names)],
            "database": {video: self._ground_truth[video] for video in sorted(self._ground_truth)},
        }
        write_json_atomic(os.path.join(self.work_dir, GROUND_TRUTH_JSON), ground_truth)
        by_reason = collections.Counter(item["reason"] for item in self._skipped)
        metadata = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "num_classes": len(self.class_names),
            "feature_dim": sum(self.stream_dims),
            "stream_dims": self.stream_dims,
            "subsets": subsets,
            "skipped": {"count": len(self._skipped), "by_reason": dict(sorted(by_reason.items())), "videos": self._skipped},
            "source": self.source,
        }
        write_json_atomic(os.path.join(self.work_dir, DATASET_JSON), metadata)
        self._move_into_place()
        self._closed = True
        return self.output_dir

    def _move_into_place(self) -> None:
        for line in self._staging.commit():
            self.reports.append(line)
            print(f"warning: {line}", file=sys.stderr)

    def abort(self) -> None:
        """Closes and deletes everything written so far; the output path is left untouched."""
        for writer in self._writers.values():
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - cleaning up after an earlier error, which is what matters
                pass
        self._writers = {}
        self._staging.discard()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if self._closed:
            return False
        if exc_type is not None:
            self.abort()
            return False
        try:
            self.finish()
        except BaseException:
            self.abort()
            raise
        return False


def shard_count(num_videos: int, requested: int) -> int:
    """Shards for a subset: as requested, but never more than its videos (no empty files)."""
    return max(1, min(int(requested), int(num_videos)))

"""Where `python -m iwo_tf.visualize` gets a model, its settings and videos: a run or a SavedModel."""
from __future__ import annotations

import os
from typing import Iterator, List, Mapping, Sequence, Tuple

import tensorflow as tf

from iwo_tf.errors import UserInputError
from iwo_tf.io import read_json

_MODEL_KEYS = ("num_classes", "num_segments", "stream_dims", "num_modules", "dropout_rate", "pooling",
               "use_shifting_bias", "orthogonality_weight")
_SETTING_KEYS = ("num_steps", "top_q", "segments_per_step", "score_method", "stream_weights")


def _read_json(path: str) -> dict:
    if not os.path.isfile(path):
        raise UserInputError(f"{path}: not found")
    return read_json(path)


def load_run(workdir: str, data_dir: str | None = None):
    """The final model of a training run and what is needed to draw it.

    Returns:
        `(model, class_names, settings, data_dir)`; settings are the run's winners-out testing settings.
    """
    from iwo_tf.training.finished_run import FinishedRun

    run = FinishedRun(workdir)
    model = run.load_model()
    localization = run.localization_settings
    settings = {key: localization[key] for key in _SETTING_KEYS if key in localization}
    return model, run.class_names(model.num_classes), settings, data_dir or run.data_dir


def load_saved_model(path: str):
    """Rebuilds the classifier of an export from its variables (to see inside winners-out testing).

    Returns:
        `(model, class_names, settings, metadata)`.
    """
    from iwo_tf.model import IWOClassifier
    from iwo_tf.serving.saved_model_export import METADATA_FILENAME, latest_version_dir

    if not os.path.isdir(path):
        raise UserInputError(f"{path}: no such SavedModel directory")
    version_dir = latest_version_dir(path)
    metadata = _read_json(os.path.join(version_dir, "assets.extra", METADATA_FILENAME))
    config = metadata["model_config"]
    model = IWOClassifier(**{key: config[key] for key in _MODEL_KEYS})
    model.build()
    loaded = tf.saved_model.load(version_dir)
    exported = {v.name.split(":")[0]: v for v in loaded.variables}
    for weight in model.weights:
        source = exported.get(weight.path)
        if source is None or tuple(source.shape) != tuple(weight.shape):
            raise UserInputError(f"{version_dir}: the export has no variable {weight.path} of shape {tuple(weight.shape)}")
        weight.assign(source)
    serving = metadata["serving"]
    settings = {key: serving[key] for key in _SETTING_KEYS if key in serving}
    settings["top_q"] = int(metadata.get("max_top_q", serving.get("top_q", 2)))
    return model, list(metadata["class_names"]), settings, metadata


def run_video_batches(model, data_dir: str, subset: str, video_ids: Sequence[str], batch_size: int = 8) -> Iterator[dict]:
    """Batches of the given test videos as the trainer evaluates them (interval means, K segments)."""
    from iwo_tf.data.dataset_info import load_dataset_info
    from iwo_tf.data.pipeline import make_dataset

    info = load_dataset_info(data_dir)
    wanted = set(video_ids)
    dataset = make_dataset(info.files(subset), num_segments=model.num_segments, num_classes=info.num_classes,
                           training=False, batch_size=batch_size)
    for batch in dataset:
        ids = [v.decode() for v in batch["video_id"].numpy()]
        rows = [i for i, v in enumerate(ids) if v in wanted]
        if rows:
            yield {key: tf.gather(value, rows) for key, value in batch.items()}


def subset_video_ids(ground_truth: Mapping, subset: str, path: str) -> List[str]:
    """The sorted video ids of `subset` in an ActivityNet-format ground truth."""
    ids = sorted(v for v, item in ground_truth.get("database", {}).items() if item.get("subset") == subset)
    if not ids:
        raise UserInputError(f"{path}: no videos in the '{subset}' subset")
    return ids


def npy_video_batch(path: str, *, num_segments: int, stream_dims: Sequence[int], snippet_stride_sec: float,
                    duration: float) -> Tuple[str, dict]:
    """One `.npy` feature file `[T, D]` as a batch of one video (the video id is the file name stem).

    The file is read and checked as the converter reads and checks features (`load_npy`, never
    unpickling; `check_features`: real numbers, `[T, D]` with D the streams' sum, T >= 1, finite).
    """
    from iwo_tf.data.pipeline import resample_to_segments
    from iwo_tf.data.safe_npy import load_npy
    from iwo_tf.data.validation import check_features

    video_id = os.path.splitext(os.path.basename(path))[0]
    if not os.path.lexists(path):
        raise UserInputError(f"{path}: not found")
    features = check_features(load_npy(path), video_id=video_id, path=path, stream_dims=stream_dims)
    segments = resample_to_segments(features, num_segments, training=False)
    return video_id, {
        "features": segments[None],
        "video_id": tf.constant([video_id]),
        "num_snippets": tf.constant([features.shape[0]], tf.int32),
        "snippet_stride_sec": tf.constant([snippet_stride_sec], tf.float32),
        "snippet_offset_sec": tf.constant([0.0], tf.float32),
        "duration": tf.constant([duration], tf.float32),
    }

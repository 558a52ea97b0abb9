"""Draws what a trained model localized: per predicted class the ground truth, the detections with
their scores, the CSC curve and which segments each winners-out step took, on a time axis in seconds.

    python -m iwo_tf.visualize --workdir=runs/synthetic --video=synthetic_test_00003 --output=v3.png
    python -m iwo_tf.visualize --workdir=runs/synthetic --videos=6 --output=sheet.png     # contact sheet
    python -m iwo_tf.visualize --saved_model=runs/synthetic/export/iwo --features=video.npy \\
        --snippet_stride_sec=0.64 --output=video.png [--ground_truth=gt.json]

From a run (`--workdir`), the model is the run's final `model.keras`, the videos come from the run's
converted data (`--data_dir` to point elsewhere), and the settings are the run's winners-out testing
settings, so the detections drawn are the ones in the run's detections JSON. From an export
(`--saved_model`), the classifier is rebuilt from the SavedModel's variables and its metadata, and the
videos are `.npy` files of raw snippet features `[T, D]` (the video id is the file name stem).
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()

from absl import app, flags

from iwo_tf.errors import UserInputError, exit_on_user_error

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished training run (train.py --workdir).")
_SAVED_MODEL = flags.DEFINE_string("saved_model", None, "An exported model (a model or a version directory).")
_VIDEO = flags.DEFINE_list("video", [], "Video id(s) of the run's data to draw (comma-separated).")
_VIDEOS = flags.DEFINE_integer("videos", 0, "Draw the first N videos of --subset (sorted ids) as a contact sheet.")
_SUBSET = flags.DEFINE_string("subset", "test", "Subset the videos come from (with --workdir).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Converted data of the run (default: the run's own data_dir).")
_FEATURES = flags.DEFINE_list("features", [], ".npy file(s) of raw snippet features [T, D] (with --saved_model).")
_STRIDE = flags.DEFINE_float("snippet_stride_sec", None, "Seconds between snippets of --features (default: the export's).")
_DURATION = flags.DEFINE_float("duration", 0.0, "Video duration in seconds for --features (0: from the snippets).")
_GROUND_TRUTH = flags.DEFINE_string("ground_truth", None, "ActivityNet-format ground truth to draw (default with --workdir: the run's).")
_OUTPUT = flags.DEFINE_string("output", None, "The PNG to write.")
_WIDTH = flags.DEFINE_integer("width", 1400, "Image width in pixels (the height follows from the number of panels).",
                              lower_bound=300, upper_bound=20000)


def _ground_truth(path):
    from iwo_tf.visualization.model_sources import _read_json

    return _read_json(path) if path else {"database": {}}


def _from_run():
    from iwo_tf.data.dataset_info import load_dataset_info
    from iwo_tf.visualization.model_sources import load_run, run_video_batches, subset_video_ids

    model, class_names, settings, data_dir = load_run(_WORKDIR.value, _DATA_DIR.value)
    gt_path = _GROUND_TRUTH.value or load_dataset_info(data_dir).ground_truth_path
    ground_truth = _ground_truth(gt_path)
    available = subset_video_ids(ground_truth, _SUBSET.value, gt_path)
    if _VIDEO.value:
        unknown = [v for v in _VIDEO.value if v not in set(available)]
        if unknown:
            raise UserInputError(f"{gt_path}: no video {unknown[0]!r} in the '{_SUBSET.value}' subset "
                                 f"(e.g. {', '.join(available[:3])})")
        wanted = list(_VIDEO.value)
    else:
        wanted = available[: _VIDEOS.value]
    return model, class_names, settings, ground_truth, wanted, run_video_batches(model, data_dir, _SUBSET.value, wanted)


def _from_saved_model():
    from iwo_tf.visualization.model_sources import load_saved_model, npy_video_batch

    if not _FEATURES.value:
        raise UserInputError("--saved_model needs --features=FILE.npy (raw snippet features [T, D])")
    model, class_names, settings, metadata = load_saved_model(_SAVED_MODEL.value)
    stride = _STRIDE.value if _STRIDE.value is not None else float(metadata["serving"]["snippet_stride_sec"])
    batches, wanted = [], []
    for path in _FEATURES.value:
        video_id, batch = npy_video_batch(path, num_segments=model.num_segments, stream_dims=model.stream_dims,
                                          snippet_stride_sec=stride, duration=_DURATION.value)
        batches.append(batch)
        wanted.append(video_id)
    return model, class_names, settings, _ground_truth(_GROUND_TRUTH.value), wanted, batches


def visualize() -> str:
    """Runs the command for the parsed flags; returns the path written."""
    from iwo_tf.io import write_bytes_atomic
    from iwo_tf.visualization import localize_for_display, render_png

    if not _OUTPUT.value:
        raise UserInputError("--output=FILE.png is required")
    if bool(_WORKDIR.value) == bool(_SAVED_MODEL.value):
        raise UserInputError("give exactly one of --workdir=RUN or --saved_model=DIR")
    if _WORKDIR.value:
        if bool(_VIDEO.value) == (_VIDEOS.value > 0):
            raise UserInputError("with --workdir give --video=VIDEO_ID or --videos=N (N >= 1)")
        source = _from_run()
    else:
        source = _from_saved_model()
    model, class_names, settings, ground_truth, wanted, batches = source
    annotations = {v: item.get("annotations", []) for v, item in ground_truth.get("database", {}).items()}
    drawn = {}
    for batch in batches:
        for video in localize_for_display(model, batch, class_names=class_names, settings=settings,
                                          ground_truth=annotations):
            drawn[video.video_id] = video
    missing = [v for v in wanted if v not in drawn]
    if missing:
        raise UserInputError(f"{_DATA_DIR.value or _WORKDIR.value}: no features for video {missing[0]!r} in the "
                             f"'{_SUBSET.value}' records")
    png = render_png([drawn[v] for v in wanted], _WIDTH.value)
    write_bytes_atomic(os.path.abspath(_OUTPUT.value), png)
    return _OUTPUT.value


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    path = exit_on_user_error(visualize)
    print(f"Wrote {path}")


def run():
    """Entry point of the `iwo-visualize` console script (setup.py)."""
    from iwo_tf.training.log_filter import install_stderr_filter

    install_stderr_filter()
    app.run(main)


if __name__ == "__main__":
    app.run(main)

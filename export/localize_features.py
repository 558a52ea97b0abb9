r"""Localizes your own feature files with an exported model and writes ActivityNet results JSON.

    # .npy files of raw snippet features [T, D] (video id = file name stem)
    python -m export.localize_features --model_dir=exports/iwo --npy='feats/*.npy' \
        --snippet_stride_sec=0.64 --output=results.json

    # TFRecords written by the project's converter (timing comes from each record)
    python -m export.localize_features --model_dir=exports/iwo --tfrecords='data/test-*.tfrecord' \
        --output=results.json

--model_dir is a version directory or a model directory (the highest version is used). Two inputs
with one video id (e.g. `a/vid1.npy` and `b/vid1.npy`) are refused. `--helpfull` lists every flag.
"""
from __future__ import annotations

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()

import glob
import math

from absl import app, flags, logging

from iwo_tf.errors import UserInputError, exit_on_user_error
from iwo_tf.io import read_json
from iwo_tf.serving.detections_json import write_results_json
from iwo_tf.serving.saved_model_localizer import SavedModelLocalizer

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Exported model: <export_base>/<model_name>[/<version>].", required=True)
flags.DEFINE_list("npy", [], "Comma-separated .npy files or globs, each [T, D] float features.")
flags.DEFINE_list("tfrecords", [], "Comma-separated TFRecord files or globs in the project schema.")
flags.DEFINE_string("output", None, "Results JSON path (written atomically).", required=True)
flags.DEFINE_integer("num_steps", None, "Winners-out steps (export default if unset).")
flags.DEFINE_integer("top_q", None, "Classes localized per video (<= the export's maximum).")
flags.DEFINE_integer("segments_per_step", None, "Segments p taken per step.")
flags.DEFINE_float("snippet_stride_sec", None, "Seconds between snippets of the .npy features (> 0).")
flags.DEFINE_float("snippet_offset_sec", None, "Start time of the first snippet of the .npy features.")
flags.DEFINE_string("durations_json", None, "Optional {video_id: seconds} for .npy inputs (clips detections).")
flags.DEFINE_integer("batch_size", 8, "Records per serving_default call.")


def expand(patterns):
    """Files matching each pattern, in order; a pattern matching nothing is an error."""
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise UserInputError(f"no file matches {pattern!r}")
        paths.extend(matches)
    return paths


def read_durations(path):
    """`{video_id: seconds}` from a JSON object of finite, non-negative numbers."""
    document = read_json(path)
    if not isinstance(document, dict):
        raise UserInputError(f"{path}: expected a JSON object {{video_id: seconds}}")
    durations = {}
    for video_id, value in document.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise UserInputError(f"{path}: video {video_id!r}: duration must be a finite number >= 0, got {value!r}")
        durations[str(video_id)] = float(value)
    return durations


def main(argv):
    del argv
    if not FLAGS.npy and not FLAGS.tfrecords:
        raise UserInputError("give --npy and/or --tfrecords")
    localizer = SavedModelLocalizer(FLAGS.model_dir)
    results = {}
    if FLAGS.npy:
        durations = read_durations(FLAGS.durations_json) if FLAGS.durations_json else None
        results.update(
            localizer.localize_npy_files(
                expand(FLAGS.npy),
                durations=durations,
                num_steps=FLAGS.num_steps,
                top_q=FLAGS.top_q,
                segments_per_step=FLAGS.segments_per_step,
                snippet_stride_sec=FLAGS.snippet_stride_sec,
                snippet_offset_sec=FLAGS.snippet_offset_sec,
            )
        )
    if FLAGS.tfrecords:
        from_records = localizer.localize_tfrecord_files(expand(FLAGS.tfrecords), batch_size=FLAGS.batch_size)
        for video_id in sorted(set(from_records) & set(results)):
            raise UserInputError(f"video {video_id!r} is both in --npy and in --tfrecords; pass it once")
        results.update(from_records)
    write_results_json(FLAGS.output, results)
    logging.info("Wrote %d videos to %s (model %s)", len(results), FLAGS.output, localizer.path)
    print(FLAGS.output)


def run():
    """Entry point of the `iwo-localize-features` console script (setup.py)."""
    app.run(lambda argv: exit_on_user_error(main, argv))


if __name__ == "__main__":
    run()

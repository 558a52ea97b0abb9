r"""Localizes your own feature files with an exported model and writes ActivityNet results JSON.

    # .npy files of raw snippet features [T, D] (video id = file name stem)
    python -m export.localize_features --model_dir=exports/iwo --npy=feats/*.npy \
        --snippet_stride_sec=0.64 --output=results.json

    # TFRecords written by the project's converter (timing comes from each record)
    python -m export.localize_features --model_dir=exports/iwo --tfrecords=data/test-*.tfrecord \
        --output=results.json

--model_dir is a version directory or a model directory (the highest version is used).
"""
from __future__ import annotations

import glob
import json

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Exported model: <export_base>/<model_name>[/<version>].", required=True)
flags.DEFINE_list("npy", [], "Comma-separated .npy files or globs, each [T, D] float features.")
flags.DEFINE_list("tfrecords", [], "Comma-separated TFRecord files or globs in the project schema.")
flags.DEFINE_string("output", None, "Results JSON path (written atomically).", required=True)
flags.DEFINE_integer("num_steps", None, "Winners-out steps (export default if unset).")
flags.DEFINE_integer("top_q", None, "Classes localized per video (<= the export's maximum).")
flags.DEFINE_integer("segments_per_step", None, "Segments p taken per step.")
flags.DEFINE_float("snippet_stride_sec", None, "Seconds between snippets of the .npy features.")
flags.DEFINE_float("snippet_offset_sec", None, "Start time of the first snippet of the .npy features.")
flags.DEFINE_string("durations_json", None, "Optional {video_id: seconds} for .npy inputs (clips detections).")
flags.DEFINE_integer("batch_size", 8, "Records per serving_default call.")


def _expand(patterns):
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        paths.extend(matches)
    return paths


def main(argv):
    del argv
    from iwo_tf.serving import SavedModelLocalizer, write_results_json

    if not FLAGS.npy and not FLAGS.tfrecords:
        raise app.UsageError("give --npy and/or --tfrecords")
    localizer = SavedModelLocalizer(FLAGS.model_dir)
    results = {}
    if FLAGS.npy:
        durations = None
        if FLAGS.durations_json:
            with open(FLAGS.durations_json) as f:
                durations = {str(k): float(v) for k, v in json.load(f).items()}
        results.update(
            localizer.localize_npy_files(
                _expand(FLAGS.npy),
                durations=durations,
                num_steps=FLAGS.num_steps,
                top_q=FLAGS.top_q,
                segments_per_step=FLAGS.segments_per_step,
                snippet_stride_sec=FLAGS.snippet_stride_sec,
                snippet_offset_sec=FLAGS.snippet_offset_sec,
            )
        )
    if FLAGS.tfrecords:
        results.update(localizer.localize_tfrecord_files(_expand(FLAGS.tfrecords), batch_size=FLAGS.batch_size))
    write_results_json(FLAGS.output, results)
    logging.info("Wrote %d videos to %s (model %s)", len(results), FLAGS.output, localizer.path)
    print(FLAGS.output)


if __name__ == "__main__":
    app.run(main)

r"""Exports a trained IWO run as a TF Serving model version.

Reads `WORKDIR/model.keras` and `WORKDIR/run_config.json` (written at the end of training) and
writes `EXPORT_BASE/MODEL_NAME/<next version>/` plus `EXPORT_BASE/models.config`.

    python -m export.export_saved_model --workdir=runs/thumos --export_base=exports --model_name=iwo

Every localization setting defaults to the run config's `localization` section; a flag overrides it.
`--helpfull` lists every flag.
"""
from __future__ import annotations

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()

from absl import app, flags, logging

from iwo_tf.errors import exit_on_user_error
from iwo_tf.model.iwo_classifier import SCORE_METHODS
from iwo_tf.serving.saved_model_export import DEFAULT_SERVING_BASE_PATH
from iwo_tf.serving.training_run_export import export_run

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training run directory with model.keras and run_config.json.", required=True)
flags.DEFINE_string("export_base", None, "Directory holding one folder per served model.", required=True)
flags.DEFINE_string("model_name", "iwo", "TF Serving model name (folder under --export_base): [A-Za-z0-9._-]+.")
flags.DEFINE_integer("num_steps", None, "Default winners-out steps N_step (run config if unset).")
flags.DEFINE_integer("top_q", None, "Maximum and default number of classes localized per video.")
flags.DEFINE_integer("segments_per_step", None, "Default segments p taken per step.")
flags.DEFINE_list("stream_weights", None, "Eq. 10 fusion weights, e.g. 1,10.")
flags.DEFINE_enum("score_method", None, list(SCORE_METHODS), "Segment scores driving winners-out.")
flags.DEFINE_float("snippet_stride_sec", None, "Default snippet stride (> 0) of the `localize` signatures.")
flags.DEFINE_float("snippet_offset_sec", None, "Default first-snippet offset of the `localize` signatures.")
flags.DEFINE_string(
    "serving_base_path",
    DEFAULT_SERVING_BASE_PATH,
    "Where the server sees --export_base, written into models.config (the container mount in export/README.md).",
)
flags.DEFINE_integer("version", None, "Explicit version number (default: above the existing ones).")


def main(argv):
    del argv
    path = export_run(
        FLAGS.workdir,
        FLAGS.export_base,
        FLAGS.model_name,
        serving_base_path=FLAGS.serving_base_path,
        version=FLAGS.version,
        num_steps=FLAGS.num_steps,
        top_q=FLAGS.top_q,
        segments_per_step=FLAGS.segments_per_step,
        stream_weights=FLAGS.stream_weights,
        score_method=FLAGS.score_method,
        snippet_stride_sec=FLAGS.snippet_stride_sec,
        snippet_offset_sec=FLAGS.snippet_offset_sec,
    )
    logging.info("Exported %s", path)
    print(path)


def run():
    """Entry point of the `iwo-export` console script (setup.py)."""
    app.run(lambda argv: exit_on_user_error(main, argv))


if __name__ == "__main__":
    run()

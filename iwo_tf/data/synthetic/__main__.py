"""Command line: writes a synthetic dataset (see `iwo_tf.data.synthetic`).

    python -m iwo_tf.data.synthetic --output=DIR [--preset=thumos14|activitynet13 | --layout_from=GT.json]
        [--snippet_rate=1.5625] [--stream_dims=64,64] [--weak_amplitude=1.5] [--streams=asymmetric] [--seed=0]
"""
import os
import time

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()
else:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from iwo_tf.data.dataset_info import load_dataset_info  # noqa: E402
from iwo_tf.data.synthetic.feature_model import ASYMMETRIC_STREAMS, SYMMETRIC_STREAMS  # noqa: E402
from iwo_tf.data.synthetic.generator import generate_synthetic_dataset, parse_stream_dims  # noqa: E402
from iwo_tf.data.synthetic.presets import PRESETS  # noqa: E402
from iwo_tf.errors import exit_on_user_error  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("output", None, "Directory to create.", required=True)
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_bool("overwrite", False, "Replace an existing directory.")
flags.DEFINE_enum("preset", None, list(PRESETS), "A real dataset's scale and layout statistics.")
flags.DEFINE_string("layout_from", None, "An ActivityNet-format ground-truth JSON to lay the instances on.")
flags.DEFINE_float("snippet_rate", None, "Snippets per second for --preset / --layout_from (default 25/16).")
flags.DEFINE_float("scale", 1.0, "With --preset: the share of each subset to generate.")
flags.DEFINE_string("stream_dims", None, "Comma-separated stream widths (default 64,64).")
flags.DEFINE_enum("streams", "symmetric", ["symmetric", "asymmetric"], "Stream gains (see feature_model).")
for _knob, _help in (
    ("weak_amplitude", "weak-part (non-climax) class amplitude"),
    ("strong_amplitude", "climax class amplitude"),
    ("strong_fraction", "climax share of each instance"),
    ("salience_amplitude", "class-agnostic climax salience"),
    ("actionness_amplitude", "class-agnostic actionness in every action snippet"),
    ("context_amplitude", "class context in the background"),
    ("noise_std", "per-dimension noise"),
):
    flags.DEFINE_float(_knob, None, f"Feature model knob: {_help}.")
_KNOBS = ("weak_amplitude", "strong_amplitude", "strong_fraction", "salience_amplitude", "actionness_amplitude",
          "context_amplitude", "noise_std")


def main(argv):
    del argv
    overrides = {k: FLAGS[k].value for k in _KNOBS if FLAGS[k].value is not None}
    overrides.update(ASYMMETRIC_STREAMS if FLAGS.streams == "asymmetric" else SYMMETRIC_STREAMS)
    if FLAGS.stream_dims:
        overrides["stream_dims"] = parse_stream_dims(FLAGS.stream_dims)
    start = time.perf_counter()
    path = generate_synthetic_dataset(
        FLAGS.output, seed=FLAGS.seed, overwrite=FLAGS.overwrite, preset=FLAGS.preset,
        layout_from=FLAGS.layout_from, snippet_rate=FLAGS.snippet_rate, scale=FLAGS.scale, **overrides,
    )
    seconds = time.perf_counter() - start
    info = load_dataset_info(path)
    size = sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))
    summary = ", ".join(f"{s}: {b['num_videos']} videos / {b['num_instances']} instances" for s, b in info.subsets.items())
    print(f"Wrote {path} ({info.num_classes} classes, D={info.feature_dim}; {summary}; {size / 1e6:.1f} MB in {seconds:.0f} s)")


def run():
    """Entry point of the `iwo-synthetic` console script (setup.py)."""
    app.run(lambda argv: exit_on_user_error(main, argv))


if __name__ == "__main__":
    run()

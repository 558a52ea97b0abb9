r"""Benchmark: the library's winners-out localization at several git revisions, in one process.

Each revision's `iwo_tf` package is extracted with `git archive` into a temporary folder and
imported under its own module objects (its own `IWOClassifier`, with the same weights), then its
`localize_incremental` (the reference `localize` for revisions without it) runs on the same
THUMOS-sized resampled videos as `benchmarks/serving_localize.py` (K = 400, D = 2048 in two
streams, M = 18, C = 20, 10 steps, q = 2, p = 30), interleaved round by round with that
benchmark's full-recompute yardstick so the ratios survive a noisy machine. Before timing, every
revision's detections are compared with the first revision's.

    python benchmarks/localize_revisions.py --revisions=4a085b3,HEAD [--batch_sizes=1,16] [--rounds=5] [--seconds=0.6]
"""
from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

import serving_localize as bench  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("revisions", ["HEAD"], "Git revisions to compare (the first is the reference for detections).")
# --batch_sizes, --rounds, --seconds and --output are serving_localize's flags, with defaults for this script.
FLAGS.set_default("batch_sizes", ["1", "16"])
FLAGS.set_default("rounds", 5)
FLAGS.set_default("seconds", 0.6)
FLAGS.set_default("output", os.path.join(REPO, "benchmarks", "results", "localize_revisions.json"))


def _package_at(revision, into):
    """Extracts `iwo_tf` at `revision` into `into`; returns the commit id."""
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", revision], check=True, capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "-C", REPO, "archive", commit, "iwo_tf"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return commit


def _import_from(folder, weights):
    """`(localize function, model)` from the `iwo_tf` package in `folder`, the model given `weights`."""
    for name in [n for n in sys.modules if n == "iwo_tf" or n.startswith("iwo_tf.")]:
        del sys.modules[name]
    sys.path.insert(0, folder)
    try:
        winners_out = importlib.import_module("iwo_tf.winners_out")
        model_module = importlib.import_module("iwo_tf.model")
    finally:
        sys.path.remove(folder)
    model = model_module.IWOClassifier(num_classes=bench.C, num_segments=bench.K, stream_dims=bench.STREAM_DIMS,
                                       num_modules=bench.M)
    model.build()
    model.set_weights(weights)
    return getattr(winners_out, "localize_incremental", winners_out.localize), model


def _compiled(localize_fn, model):
    @tf.function(input_signature=[tf.TensorSpec([None, bench.K, sum(bench.STREAM_DIMS)], tf.float32)], autograph=False)
    def run(segments):
        batch = tf.shape(segments)[0]
        return localize_fn(
            model, segments, num_snippets=tf.fill([batch], bench.K), snippet_stride_sec=tf.fill([batch], bench.STRIDE),
            snippet_offset_sec=tf.zeros([batch]), duration=tf.zeros([batch]), num_steps=bench.STEPS, top_q=bench.Q,
            segments_per_step=bench.P, stream_weights=bench.STREAM_WEIGHTS,
        ).detections

    return run


def main(argv):
    del argv
    reference_model = bench.make_model()
    weights = reference_model.get_weights()
    functions, commits = {"yardstick": bench.yardstick_function(reference_model)}, {}
    with tempfile.TemporaryDirectory(prefix="iwo-revisions-") as root:
        for revision in FLAGS.revisions:
            folder = os.path.join(root, revision.replace("/", "_"))
            os.makedirs(folder)
            commits[revision] = _package_at(revision, folder)
            functions[revision] = _compiled(*_import_from(folder, weights))
        segments = tf.constant(np.random.default_rng(0).standard_normal(
            (max(int(b) for b in FLAGS.batch_sizes), bench.K, sum(bench.STREAM_DIMS)), dtype=np.float32))
        first = functions[FLAGS.revisions[0]](segments[:8])
        for revision in FLAGS.revisions[1:]:
            other = functions[revision](segments[:8])
            if not np.array_equal(first.class_index.numpy(), other.class_index.numpy()) or not np.allclose(
                first.score.numpy(), other.score.numpy(), rtol=1e-5, atol=1e-6
            ):
                raise AssertionError(f"{revision}: detections differ from {FLAGS.revisions[0]}'s")
        results = {}
        for batch in (int(b) for b in FLAGS.batch_sizes):
            inputs = segments[:batch]
            seconds = {name: [] for name in functions}
            for function in functions.values():
                function(inputs)
            for _ in range(FLAGS.rounds):
                for name, function in functions.items():
                    seconds[name].append(bench.timed(lambda: function(inputs), FLAGS.seconds, min_calls=3))
            median = {name: statistics.median(values) for name, values in seconds.items()}
            results[batch] = {name: {"ms_per_batch": 1e3 * value, "videos_per_s": batch / value,
                                     "vs_yardstick": median["yardstick"] / value} for name, value in median.items()}
            print(f"batch {batch:3d}: " + " | ".join(
                f"{name} {1e3 * value:7.1f} ms ({median['yardstick'] / value:.2f}x the yardstick)" for name, value in median.items()
            ), flush=True)
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump({"commits": commits, "by_batch": results, "command": " ".join(["python"] + sys.argv)}, f, indent=2)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)

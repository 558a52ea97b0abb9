"""TensorBoard records of a run as a whole: the config as text and the run's hyperparameters (HParams).

Written once at the start of a run into `tensorboard/` itself (the run `.` in TensorBoard), beside
`train/` and `test/`. The HParams dashboard lists every scalar config value (tuples as text) and, as
metrics, the test split's average mAP of each testing mode (`test` run, on the global-epoch axis).
"""
from __future__ import annotations

import json
from typing import Iterable

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp


def flat_hparams(config) -> dict:
    """Dotted config keys -> bool, int, float or str (what the HParams plugin accepts)."""
    flat = {}

    def visit(node, prefix):
        for key, value in node.items():
            name = f"{prefix}{key}"
            if hasattr(value, "items"):
                visit(value, name + ".")
            elif isinstance(value, (bool, int, float, str)):
                flat[name] = value
            elif value is None:
                flat[name] = "None"
            else:
                flat[name] = json.dumps(list(value) if isinstance(value, tuple) else value, default=str)

    visit(config, "")
    return flat


def write_run_description(logdir: str, config, testing_modes: Iterable[str], trial_id: str) -> None:
    """Writes the config as text and the HParams session of the run into `logdir`.

    Args:
        logdir: the run's `tensorboard/` directory.
        config: the experiment `ConfigDict`.
        testing_modes: the modes whose `<mode>/average_mAP` the test writer logs.
        trial_id: a name for the run in the HParams dashboard (e.g. the workdir).
    """
    hparams = flat_hparams(config)
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default(step=0):
        tf.summary.text("config", "```\n" + json.dumps(config.to_dict(), indent=1, default=str) + "\n```")
        hp.hparams_config(
            hparams=[hp.HParam(name) for name in sorted(hparams)],
            metrics=[hp.Metric(f"{mode}/average_mAP", group="test", display_name=f"test {mode} avg mAP")
                     for mode in testing_modes],
        )
        hp.hparams(hparams, trial_id=trial_id)
    writer.flush()
    writer.close()


def write_model_graph(logdir: str, model, num_segments: int, feature_dim: int) -> None:
    """Writes the classifier's inference graph (features [B, K, D], mask [B, K] -> logits) for TensorBoard's Graphs tab.

    Args:
        logdir: the run's `tensorboard/` directory.
        model: the built `IWOClassifier`.
        num_segments: K.
        feature_dim: D, all streams together.
    """
    forward = tf.function(lambda features, mask: model({"features": features, "mask": mask}, training=False))
    concrete = forward.get_concrete_function(
        tf.TensorSpec([None, num_segments, feature_dim], tf.float32), tf.TensorSpec([None, num_segments], tf.float32)
    )
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        tf.summary.graph(concrete.graph)
    writer.flush()
    writer.close()

"""The tf.distribute strategy a run trains under (TensorFlow's own engine, no home-made one)."""
from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Creates the strategy; call it before any other TensorFlow op (multi-worker requires that).

    Args:
        name: `default` (one device), `mirrored` (all local devices) or `multi_worker`
            (`MultiWorkerMirroredStrategy`, cluster read from the `TF_CONFIG` environment variable).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--strategy=multi_worker needs the TF_CONFIG environment variable describing the "
                "cluster and this worker's task (see README, 'Training on several machines')"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, summaries, masks and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def task_description(strategy: tf.distribute.Strategy) -> str:
    """A short `worker:1`-style name of this process for logs and scratch directories."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return "single"
    return f"{resolver.task_type}:{resolver.task_id}"


def tf_config_summary() -> str:
    """TF_CONFIG without secrets, for error messages."""
    raw = os.environ.get("TF_CONFIG", "")
    try:
        return json.dumps(json.loads(raw))
    except ValueError:
        return raw

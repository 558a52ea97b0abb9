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
        # Every local GPU; without GPUs, every logical CPU device (MirroredStrategy's own default
        # would take /cpu:0 alone, ignoring CPUs split with tf.config.set_logical_device_configuration).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--strategy=multi_worker needs the TF_CONFIG environment variable describing the "
                "cluster and this worker's task (see README, 'Training on several devices or machines')"
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


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """How many worker processes train together (1 unless multi-worker with a cluster in TF_CONFIG)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return max(1, sum(len(cluster.get(job, ())) for job in ("chief", "worker")))


def broadcast_from_chief(strategy: tf.distribute.Strategy, values):
    """The chief's values of a nested structure of host tensors/arrays, identical on every worker.

    Built from the strategy's own collectives: an all-reduce (SUM) to which replica 0 (the chief's
    first device) contributes its values and every other replica zeros, so the sum is the chief's
    values bit for bit. Every worker must call it at the same point (it is a collective); a
    single-worker strategy returns `values` unchanged.
    """
    if num_workers(strategy) <= 1:
        return tf.nest.map_structure(tf.convert_to_tensor, values)
    values = tf.nest.map_structure(tf.convert_to_tensor, values)

    @tf.function(autograph=False)
    def broadcast(values):
        def replica_fn(values):
            context = tf.distribute.get_replica_context()
            first = tf.equal(context.replica_id_in_sync_group, 0)
            flat = [tf.where(first, v, tf.zeros_like(v)) for v in tf.nest.flatten(values)]
            reduced = list(flat)
            # One batched all-reduce per dtype (a batch is packed into one buffer of one dtype).
            for dtype in {v.dtype for v in flat}:
                indices = [i for i, v in enumerate(flat) if v.dtype == dtype]
                group = context.all_reduce(tf.distribute.ReduceOp.SUM, [flat[i] for i in indices])
                for i, value in zip(indices, group):
                    reduced[i] = value
            return tf.nest.pack_sequence_as(values, reduced)

        return strategy.run(replica_fn, args=(values,))

    result = broadcast(values)
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], result)


def sync_workers(strategy: tf.distribute.Strategy) -> None:
    """A barrier: returns on every worker once all workers have called it (no-op with one worker)."""
    broadcast_from_chief(strategy, tf.zeros([1]))


# What a collective raises on the survivors when a peer dies, hangs or becomes unreachable (the
# coordination service stops receiving its heartbeats, or its port refuses connections).
CLUSTER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
    tf.errors.CancelledError,
)


def cluster_failure_message(strategy: tf.distribute.Strategy, error: Exception, workdir: str) -> str:
    """The message a worker prints when the cluster lost a member (see CLUSTER_ERRORS)."""
    detail = str(error).strip()
    for line in detail.splitlines():
        if "aborted by" in line or "unhealthy" in line or "Connection refused" in line:
            detail = line.strip()
            break
    else:
        detail = detail.splitlines()[0] if detail else type(error).__name__
    return (
        f"multi-worker training stopped on {task_description(strategy)}: a worker died, hung or became "
        f"unreachable ({type(error).__name__}: {detail[:400]}). The job cannot continue with fewer workers. "
        f"Restart ALL workers with the same command and TF_CONFIG; training resumes from the last "
        f"checkpoint in {os.path.join(workdir, 'checkpoints')} (saved after every epoch). "
        f"Cluster: {tf_config_summary()}"
    )


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

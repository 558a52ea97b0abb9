"""A run's training state: checkpointed, restored, and broadcast from the chief to every worker."""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from iwo_tf.training.strategy import broadcast_from_chief, num_workers


class RunCheckpoint:
    """The model, optimizer, winners-out step, epoch and dropout RNG state of a run, on disk and in memory.

    Dropout's seed-generator state is not a weight; without it a resumed run draws other dropout
    masks than the uninterrupted one and "same seed, same numbers" breaks, so it is checkpointed too.

    Args:
        model: the built `IWOClassifier`.
        optimizer: its built optimizer.
        directory: the checkpoint directory (`RunDir.checkpoints_dir`).
        max_to_keep: checkpoints kept on disk.
    """

    def __init__(self, model, optimizer, directory: str, max_to_keep: int = 2):
        self.model = model
        self.optimizer = optimizer
        self.directory = directory
        self.wo_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="wo_step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_in_step")
        weights = {id(v) for v in model.weights}
        self.rng_states = [v for v in model.variables if id(v) not in weights]
        self.initial_weights = [v.numpy() for v in model.weights]
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, wo_step=self.wo_step, epoch=self.epoch, rng_states=self.rng_states,
        )
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep)

    def save(self) -> str:
        """Writes a checkpoint (a collective operation under multi-worker strategies)."""
        return self.manager.save()

    def restore_latest(self) -> Optional[str]:
        """Restores the newest checkpoint; returns its path, or None when there is none."""
        latest = self.manager.latest_checkpoint
        if latest is None:
            return None
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        return latest

    def reinitialize(self) -> None:
        """Sets the weights back to their initial values and clears the optimizer's slots."""
        for variable, value in zip(self.model.weights, self.initial_weights):
            variable.assign(value)
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))


def broadcast_run_state(strategy: tf.distribute.Strategy, state: RunCheckpoint, mask_table) -> None:
    """Gives every worker the chief's weights, optimizer, RNG state, counters and keep-masks.

    A no-op with a single worker. Non-chief workers then need no access to the chief's workdir.

    Args:
        strategy: the run's strategy.
        state: the run's `RunCheckpoint` (restored on the chief).
        mask_table: the run's `MaskTable`.
    """
    if num_workers(strategy) <= 1:
        return
    chief = broadcast_from_chief(strategy, {
        "weights": [v.value for v in state.model.weights],
        "optimizer": [v.value for v in state.optimizer.variables],
        "rng_states": [v.value for v in state.rng_states],
        "counters": tf.stack([state.wo_step, state.epoch]),
        "masks": mask_table.masks.read_value(),
    })
    for variable, value in zip(state.model.weights, chief["weights"]):
        variable.assign(value)
    for variable, value in zip(state.optimizer.variables, chief["optimizer"]):
        variable.assign(value)
    for variable, value in zip(state.rng_states, chief["rng_states"]):
        variable.assign(value)
    state.wo_step.assign(chief["counters"][0])
    state.epoch.assign(chief["counters"][1])
    mask_table.masks.assign(chief["masks"])

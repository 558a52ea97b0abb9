"""A run's training state: checkpointed, restored, and broadcast from the chief to every worker."""
from __future__ import annotations

import os
import re
from typing import List, Optional

import tensorflow as tf
from absl import logging

from iwo_tf.errors import UserInputError
from iwo_tf.io import write_text_atomic
from iwo_tf.training.strategy import broadcast_from_chief, num_workers

_INDEX_FILE = re.compile(r"^ckpt-(\d+)\.index$")


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
        self.max_to_keep = int(max_to_keep)
        self.wo_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="wo_step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_in_step")
        weights = {id(v) for v in model.weights}
        self.rng_states = [v for v in model.variables if id(v) not in weights]
        self.initial_weights = [v.numpy() for v in model.weights]
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, wo_step=self.wo_step, epoch=self.epoch, rng_states=self.rng_states,
        )
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=self.max_to_keep)

    def save(self) -> str:
        """Writes a checkpoint (a collective operation under multi-worker strategies)."""
        return self.manager.save()

    def checkpoint_files(self) -> List[str]:
        """Checkpoint prefixes on disk (`ckpt-N` with an index file), oldest first."""
        if not tf.io.gfile.isdir(self.directory):
            return []
        numbers = sorted(int(m.group(1)) for m in map(_INDEX_FILE.match, tf.io.gfile.listdir(self.directory)) if m)
        return [os.path.join(self.directory, f"ckpt-{n}") for n in numbers]

    def restore_latest(self) -> Optional[str]:
        """Restores the newest readable checkpoint; returns its path, or None when there is none.

        A checkpoint that cannot be read (truncated, corrupt) is skipped with a warning and the
        previous kept one is tried. When the `checkpoint` state file is missing but checkpoint files
        are there, it is rebuilt from the files (a run never silently restarts from scratch).

        Raises:
            UserInputError: checkpoint files exist and none of them can be read.
        """
        candidates = list(self.manager.checkpoints)
        on_disk = self.checkpoint_files()
        if not candidates and on_disk:
            logging.warning("%s: the 'checkpoint' state file is missing; recovered %d checkpoints from their files",
                            self.directory, len(on_disk))
            self._write_state_file(on_disk)
            self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=self.max_to_keep)
            candidates = list(self.manager.checkpoints) or on_disk
        failures = []
        for path in reversed(candidates):
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except Exception as error:  # noqa: BLE001 (any failure to read one checkpoint: try the previous)
                reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                failures.append(f"{path} ({reason})")
                logging.warning("%s cannot be restored (%s); trying the previous kept checkpoint", path, reason)
                continue
            if failures:
                logging.warning("resumed from %s, an older checkpoint: %d newer could not be read", path, len(failures))
            return path
        if failures:
            raise UserInputError(
                f"{self.directory}: no checkpoint can be restored: {'; '.join(failures)}; remove the damaged "
                "checkpoints to start over, or use a new --workdir"
            )
        return None

    def _write_state_file(self, prefixes: List[str]) -> None:
        """The `checkpoint` state file (a text proto) listing `prefixes`, oldest first, the last the latest."""
        stamps = [tf.io.gfile.stat(p + ".index").mtime_nsec / 1e9 for p in prefixes]
        lines = [f'model_checkpoint_path: "{os.path.basename(prefixes[-1])}"']
        lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in prefixes]
        lines += [f"all_model_checkpoint_timestamps: {t!r}" for t in stamps]
        lines.append(f"last_preserved_timestamp: {min(stamps) - 1.0!r}")
        write_text_atomic(os.path.join(self.directory, "checkpoint"), "\n".join(lines) + "\n")

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

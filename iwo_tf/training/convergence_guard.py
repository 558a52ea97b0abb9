"""Says loudly when training is not learning: the cross-entropy still near ln(C) after the first epochs.

With the normalised label vector of Eq. 6, a model that predicts the uniform distribution has
cross-entropy exactly ln(C) whatever the labels, so a loss within a few percent of ln(C) after some
epochs means the classifier has learned (almost) nothing; on THUMOS-scale data the paper's SGD at
lr 1e-3 with batches of 32 stays there for all its epochs without a word. The guard checks once,
after `after_epochs` epochs, and also fires at any epoch whose loss is not finite.
"""
from __future__ import annotations

import math
from typing import Optional


class ConvergenceGuard:
    """Watches the per-epoch training cross-entropy and returns a warning when it is stuck at ln(C).

    Args:
        num_classes: C.
        after_epochs: the (1-based, global) epoch after which the check runs once.
        tolerance: relative distance to ln(C) that counts as "not learning" (0.05: within 5%).
        settings: what the message reports and suggests from: `learning_rate`, `optimizer`,
            `batch_size`, `updates_per_epoch`, `epochs_per_step`, `dropout_rate` (any may be missing).
    """

    def __init__(self, num_classes: int, after_epochs: int = 3, tolerance: float = 0.05, settings: Optional[dict] = None):
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if after_epochs < 1 or not 0.0 < tolerance < 1.0:
            raise ValueError(f"after_epochs must be >= 1 and 0 < tolerance < 1, got {after_epochs}, {tolerance}")
        self.num_classes = int(num_classes)
        self.after_epochs = int(after_epochs)
        self.tolerance = float(tolerance)
        self.settings = dict(settings or {})
        self.chance_loss = math.log(self.num_classes)
        self.fired = False

    def is_stuck(self, cross_entropy: float) -> bool:
        """True when `cross_entropy` is within the tolerance of ln(C) (or above it)."""
        return cross_entropy >= (1.0 - self.tolerance) * self.chance_loss

    def update(self, global_epoch: int, cross_entropy: float) -> Optional[str]:
        """Feeds the mean cross-entropy of a finished epoch; returns the warning when the guard fires.

        It fires at most once per run for a stuck loss (at `after_epochs`), and at the first
        non-finite loss.
        """
        if self.fired:
            return None
        if not math.isfinite(cross_entropy):
            self.fired = True
            return self._diverged_message(global_epoch, cross_entropy)
        if global_epoch != self.after_epochs or not self.is_stuck(cross_entropy):
            return None
        self.fired = True
        return self._stuck_message(global_epoch, cross_entropy)

    def _stuck_message(self, global_epoch: int, cross_entropy: float) -> str:
        s = self.settings
        distance = 100.0 * (cross_entropy - self.chance_loss) / self.chance_loss
        lines = [
            f"NOT LEARNING: after {global_epoch} epoch(s) the training cross-entropy is {cross_entropy:.3f}, "
            f"{abs(distance):.1f}% {'above' if distance >= 0 else 'below'} ln({self.num_classes}) = "
            f"{self.chance_loss:.3f}, the loss of a uniform guess: the classifier has learned (almost) nothing.",
            "Try, one at a time:",
        ]
        lr = s.get("learning_rate")
        if lr is not None:
            lines.append(f"  - a larger learning rate: --config.optimizer.learning_rate={10 * float(lr):g} (now {float(lr):g})")
        if s.get("optimizer", "sgd") != "adam":
            lines.append("  - the Adam optimizer: --config.optimizer.name=adam --config.optimizer.learning_rate=1e-3")
        batch = s.get("batch_size")
        if batch is not None and int(batch) > 8:
            updates = s.get("updates_per_epoch")
            now = f"now {int(batch)}" + (f", {int(updates)} updates per epoch" if updates is not None else "")
            lines.append(f"  - a smaller batch (more updates per epoch): --config.data.batch_size={max(8, int(batch) // 2)} ({now})")
        epochs = s.get("epochs_per_step")
        if epochs is not None:
            lines.append(f"  - more epochs: --config.winners_out.epochs_per_step={2 * int(epochs)} (now {int(epochs)})")
        dropout = s.get("dropout_rate")
        if dropout is not None and float(dropout) > 0.5:
            lines.append(f"  - less dropout: --config.model.dropout_rate=0.5 (now {float(dropout):g})")
        return "\n".join(lines)

    def _diverged_message(self, global_epoch: int, cross_entropy: float) -> str:
        lr = self.settings.get("learning_rate")
        hint = f" (now {float(lr):g})" if lr is not None else ""
        return (f"DIVERGED: the training cross-entropy of epoch {global_epoch} is {cross_entropy}; "
                f"lower the learning rate, e.g. --config.optimizer.learning_rate=...{hint}")


def guard_from_config(config, num_classes: int, global_batch: int, updates_per_epoch: int) -> Optional[ConvergenceGuard]:
    """The guard `config.convergence_guard` asks for (`after_epochs` 0: none), with the run's settings."""
    section = config.get("convergence_guard", {})
    after_epochs = int(section.get("after_epochs", 3))
    if after_epochs <= 0:
        return None
    return ConvergenceGuard(num_classes, after_epochs=after_epochs, tolerance=float(section.get("tolerance", 0.05)),
                            settings={
                                "learning_rate": config.optimizer.learning_rate,
                                "optimizer": config.optimizer.get("name", "sgd"),
                                "batch_size": global_batch,
                                "updates_per_epoch": updates_per_epoch,
                                "epochs_per_step": int(config.winners_out.epochs_per_step),
                                "dropout_rate": config.model.dropout_rate,
                            })


def report(message: str, writer=None, step: int = 0) -> None:
    """Logs the guard's message as a warning and, with a summary writer, as TensorBoard text."""
    import tensorflow as tf
    from absl import logging

    logging.warning("%s", message)
    if writer is not None:
        with writer.as_default(step=step):
            tf.summary.text("convergence_guard", "```\n" + message + "\n```")
        writer.flush()

"""The learning-rate schedule: the paper's step decay (divided by 10 every 20 epochs, Sec. V-B).

The paper does not say whether the schedule restarts at each winners-out step or runs once over the
whole training; `config.optimizer.schedule` chooses:

- `restart_per_step` (default): every winners-out step starts again at the initial rate and decays
  within its own `epochs_per_step` epochs (each step is a training of its own, Algorithm 1).
- `global`: one schedule over all steps, indexed by the global epoch (step * epochs_per_step + epoch),
  so later winners-out steps continue at the decayed rate.
"""

SCHEDULES = ("restart_per_step", "global")


def step_decay_learning_rate(epoch: int, initial: float, decay_every_epochs: int, decay_factor: float) -> float:
    """Learning rate for a 0-based epoch of the schedule.

    Args:
        epoch: 0-based epoch the schedule is indexed by (see `schedule_epoch`).
        initial: initial learning rate (paper: 1e-3).
        decay_every_epochs: epochs between decays (paper: 20); <= 0 disables decay.
        decay_factor: multiplier at each decay (paper: 0.1).
    """
    if decay_every_epochs <= 0:
        return float(initial)
    return float(initial) * float(decay_factor) ** (epoch // decay_every_epochs)


def schedule_epoch(schedule: str, wo_step: int, epoch: int, epochs_per_step: int) -> int:
    """The epoch the schedule is at for 0-based `epoch` of 0-based winners-out step `wo_step`.

    Args:
        schedule: `restart_per_step` or `global`.
        wo_step: 0-based winners-out step.
        epoch: 0-based epoch within the step.
        epochs_per_step: epochs of each winners-out step.
    """
    if schedule == "restart_per_step":
        return int(epoch)
    if schedule == "global":
        return int(wo_step) * int(epochs_per_step) + int(epoch)
    raise ValueError(f"config.optimizer.schedule={schedule!r}: expected one of {', '.join(SCHEDULES)}")


def learning_rate_for(optimizer_config, wo_step: int, epoch: int, epochs_per_step: int) -> float:
    """The learning rate of an epoch under `config.optimizer` (its `schedule`, default restart_per_step)."""
    schedule = optimizer_config.get("schedule", "restart_per_step")
    return step_decay_learning_rate(
        schedule_epoch(schedule, wo_step, epoch, epochs_per_step), optimizer_config.learning_rate,
        optimizer_config.decay_every_epochs, optimizer_config.decay_factor,
    )

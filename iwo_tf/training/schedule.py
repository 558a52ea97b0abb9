"""The paper's learning-rate schedule: divided by 10 every 20 epochs (Sec. V-B)."""


def step_decay_learning_rate(epoch: int, initial: float, decay_every_epochs: int, decay_factor: float) -> float:
    """Learning rate for a 0-based epoch of a winners-out step (the schedule restarts at each step).

    Args:
        epoch: 0-based epoch within the current winners-out step.
        initial: initial learning rate (paper: 1e-3).
        decay_every_epochs: epochs between decays (paper: 20); <= 0 disables decay.
        decay_factor: multiplier at each decay (paper: 0.1).
    """
    if decay_every_epochs <= 0:
        return float(initial)
    return float(initial) * float(decay_factor) ** (epoch // decay_every_epochs)

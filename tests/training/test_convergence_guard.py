"""The convergence guard on made-up loss series: it fires on a loss stuck at ln(C), and only then."""
import math

import pytest

from iwo_tf.training.convergence_guard import ConvergenceGuard

SETTINGS = {"learning_rate": 1e-3, "optimizer": "sgd", "batch_size": 32, "updates_per_epoch": 6,
            "epochs_per_step": 40, "dropout_rate": 0.8}


def _feed(guard, losses):
    return [(epoch, message) for epoch, loss in enumerate(losses, start=1)
            if (message := guard.update(epoch, loss)) is not None]


def test_fires_once_when_the_loss_stays_at_ln_c_and_says_what_to_try():
    guard = ConvergenceGuard(20, after_epochs=3, settings=SETTINGS)
    fired = _feed(guard, [math.log(20) + 0.01, 2.995, 2.99, 2.99, 2.98, 2.97])
    assert [epoch for epoch, _ in fired] == [3]
    message = fired[0][1]
    assert message.startswith("NOT LEARNING") and "ln(20) = 2.996" in message
    for hint in ("--config.optimizer.learning_rate=0.01 (now 0.001)", "--config.optimizer.name=adam",
                 "--config.data.batch_size=16 (now 32, 6 updates per epoch)",
                 "--config.winners_out.epochs_per_step=80", "--config.model.dropout_rate=0.5"):
        assert hint in message, hint


def test_silent_when_the_loss_falls_below_the_tolerance():
    guard = ConvergenceGuard(20, after_epochs=3, tolerance=0.05)
    assert _feed(guard, [2.99, 2.7, 2.5, 2.2, 3.0, 3.0]) == []


@pytest.mark.parametrize("loss_at_check,fires", [(0.951 * math.log(4), True), (0.949 * math.log(4), False)])
def test_threshold_is_relative_to_ln_c(loss_at_check, fires):
    guard = ConvergenceGuard(4, after_epochs=2, tolerance=0.05)
    assert bool(_feed(guard, [1.4, loss_at_check])) == fires


def test_a_non_finite_loss_fires_at_once_even_before_the_check():
    guard = ConvergenceGuard(10, after_epochs=5, settings={"learning_rate": 0.5})
    fired = _feed(guard, [2.0, float("nan"), float("nan")])
    assert [epoch for epoch, _ in fired] == [2]
    assert fired[0][1].startswith("DIVERGED") and "now 0.5" in fired[0][1]


def test_hints_that_already_apply_are_left_out():
    guard = ConvergenceGuard(5, after_epochs=1, settings={"optimizer": "adam", "batch_size": 8, "dropout_rate": 0.5})
    message = guard.update(1, math.log(5))
    assert "--config.optimizer.name=adam" not in message and "batch_size" not in message and "dropout" not in message


def test_rejects_nonsense_settings():
    with pytest.raises(ValueError):
        ConvergenceGuard(1)
    with pytest.raises(ValueError):
        ConvergenceGuard(5, tolerance=1.5)

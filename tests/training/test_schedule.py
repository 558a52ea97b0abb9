"""The learning-rate schedule switch: restart at each winners-out step, or one schedule over all steps."""
import ml_collections
import pytest

from iwo_tf.training.schedule import learning_rate_for, schedule_epoch, step_decay_learning_rate


def _optimizer(schedule=None):
    config = ml_collections.ConfigDict({"learning_rate": 1e-3, "decay_every_epochs": 20, "decay_factor": 0.1})
    if schedule is not None:
        config.schedule = schedule
    return config


def test_step_decay_is_the_papers():
    assert [step_decay_learning_rate(e, 1e-3, 20, 0.1) for e in (0, 19, 20, 39, 40)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5])
    assert step_decay_learning_rate(100, 0.05, 0, 0.1) == 0.05


def test_restart_per_step_is_the_default_and_restarts():
    for config in (_optimizer(), _optimizer("restart_per_step")):
        assert learning_rate_for(config, 1, 0, 40) == pytest.approx(1e-3)
        assert learning_rate_for(config, 1, 25, 40) == pytest.approx(1e-4)


def test_global_schedule_continues_across_winners_out_steps():
    config = _optimizer("global")
    assert schedule_epoch("global", 1, 5, 40) == 45
    assert learning_rate_for(config, 0, 39, 40) == pytest.approx(1e-4)
    assert learning_rate_for(config, 1, 0, 40) == pytest.approx(1e-5)  # global epoch 40


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="config.optimizer.schedule='cosine'"):
        schedule_epoch("cosine", 0, 0, 1)

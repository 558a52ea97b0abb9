"""Config validation: every key of configs/base.py has a rule; a bad value is one line naming the key."""

import pytest

from configs import activitynet13, base, synthetic, thumos14
from iwo_tf.errors import UserInputError
from iwo_tf.training.config_validation import RULES, validate_config
from tests.training.conftest import run_train

# One value per key that the rule must refuse (the cases first).
BAD_VALUES = {
    "data.batch_size": -4,
    "model.dropout_rate": 1.0,
    "optimizer.learning_rate": 1e8,
    "optimizer.name": "rmsprop",
    "data.num_segments": 0,
    "winners_out.segments_per_step": -1,
    "dataset": "../x",
    "data_dir": "",
    "seed": -1,
    "synthetic_seed": 1.5,
    "deterministic": 1,
    "strategy": "tpu",
    "data.snippets_per_segment": 0,
    "data.shuffle_buffer": 0,
    "data.eval_batch_size": 0,
    "model.num_modules": 0,
    "model.pooling": "max",
    "model.use_shifting_bias": "yes",
    "model.orthogonality_weight": float("nan"),
    "optimizer.momentum": 1.0,
    "optimizer.decay_every_epochs": -1,
    "optimizer.decay_factor": 0.0,
    "optimizer.schedule": "cosine",
    "winners_out.control": "yes",
    "testing.single_step_p": 1,
    "convergence_guard.after_epochs": -1,
    "convergence_guard.tolerance": 1.0,
    "winners_out.train_steps": 0,
    "winners_out.epochs_per_step": 0,
    "winners_out.reinitialize": None,
    "winners_out.score_method": "cam",
    "winners_out.stream_weights": (1.0, float("inf")),
    "testing.num_steps": 0,
    "testing.top_q": 0,
    "testing.segments_per_step": -3,
    "testing.compare_single_step": "false",
    "testing.tiou_thresholds": (0.0, 0.5),
    "testing.evaluate_every_wo_step": 0,
    "summaries.num_curve_videos": -1,
    "summaries.histogram_every_epochs": 2.5,
    "export.enabled": "no",
    "export.model_name": "..",
}


def _flat_keys(config, prefix=""):
    keys = []
    for key, value in config.items():
        if hasattr(value, "items"):
            keys += _flat_keys(value, f"{prefix}{key}.")
        else:
            keys.append(prefix + key)
    return keys


def _config(**changes):
    """configs/synthetic.py as plain dicts (ConfigDict's type checks would refuse some bad values first)."""
    config = synthetic.get_config().to_dict()
    config["data_dir"] = "data/synthetic"
    for dotted, value in changes.items():
        node = config
        *sections, key = dotted.split(".")
        for section in sections:
            node = node[section]
        node[key] = value
    return config


def test_every_key_of_the_base_config_has_a_rule_and_a_refused_value():
    keys = set(_flat_keys(base.get_config())) | {"synthetic_seed"}
    assert keys <= set(RULES), sorted(keys - set(RULES))
    assert set(BAD_VALUES) == set(RULES)


@pytest.mark.parametrize("module", [synthetic, thumos14, activitynet13], ids=lambda m: m.__name__)
def test_shipped_configs_are_valid(module):
    config = module.get_config()
    config.data_dir = "data/x"
    validate_config(config)


@pytest.mark.parametrize("key", sorted(BAD_VALUES))
def test_a_bad_value_is_refused_in_one_line_naming_the_key(key):
    with pytest.raises(UserInputError) as error:
        validate_config(_config(**{key: BAD_VALUES[key]}))
    message = str(error.value)
    assert message.startswith(f"config.{key}=") and "\n" not in message, message


def test_segments_per_step_cannot_exceed_the_number_of_segments():
    with pytest.raises(UserInputError, match=r"testing.segments_per_step=300: must be <= config.data.num_segments=200"):
        validate_config(_config(**{"testing.segments_per_step": 300}))


@pytest.mark.slow
def test_train_py_refuses_a_negative_batch_size_in_one_line_before_anything_runs(tiny_data_dir, tmp_path):
    workdir = tmp_path / "w"
    result = run_train(tiny_data_dir, workdir, timeout=120, data__batch_size=-4)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == ["error: config.data.batch_size=-4: must be an integer >= 1"], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not workdir.exists()


@pytest.mark.parametrize("script", ["train.py", "iwo_tf/ablations.py"])
@pytest.mark.parametrize("override, message", [
    ("--config.data.batch_sze=3", "error: --config.data.batch_sze: the config has no key 'batch_sze'. "
                                  'Did you mean "batch_size" instead of "batch_sze"?'),
    ("--config.nosuch.x=1", "error: --config.nosuch.x: the config has no key 'nosuch'."),
])
def test_an_override_naming_no_config_key_is_one_line(tmp_path, script, override, message):
    import subprocess
    import sys

    from tests.training.conftest import REPO, subprocess_env

    result = subprocess.run([sys.executable, str(REPO / script), "--dataset=synthetic", f"--workdir={tmp_path / 'w'}",
                             override], cwd=str(tmp_path), env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [message]
    assert not (tmp_path / "w").exists()

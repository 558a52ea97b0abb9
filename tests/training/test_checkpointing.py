"""Checkpoint restore: a damaged latest checkpoint falls back to the previous one; a lost state file is rebuilt."""
import os

import pytest

from iwo_tf.errors import UserInputError
from iwo_tf.training.checkpointing import RunCheckpoint
from iwo_tf.training.model_factory import build_model, build_optimizer
from tests.training.conftest import tiny_config


def _state(directory, tmp_path):
    config = tiny_config(tmp_path / "unused")
    model = build_model(config, num_classes=3, stream_dims=(4, 4))
    optimizer = build_optimizer(config.optimizer)
    optimizer.build(model.trainable_variables)
    return RunCheckpoint(model, optimizer, str(directory))


def _two_checkpoints(tmp_path):
    directory = tmp_path / "checkpoints"
    state = _state(directory, tmp_path)
    for epoch in (1, 2):
        state.epoch.assign(epoch)
        state.save()
    return directory, state


def _truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


@pytest.mark.parametrize("damaged", ["data-00000-of-00001", "index"])
def test_a_truncated_latest_checkpoint_falls_back_to_the_previous_kept_one(tmp_path, damaged):
    directory, _ = _two_checkpoints(tmp_path)
    _truncate(directory / f"ckpt-2.{damaged}")
    state = _state(directory, tmp_path)
    assert state.restore_latest() == str(directory / "ckpt-1")
    assert int(state.epoch.numpy()) == 1


def test_a_missing_state_file_is_rebuilt_from_the_checkpoint_files(tmp_path):
    directory, _ = _two_checkpoints(tmp_path)
    os.remove(directory / "checkpoint")
    state = _state(directory, tmp_path)
    assert state.restore_latest() == str(directory / "ckpt-2")
    assert int(state.epoch.numpy()) == 2
    assert (directory / "checkpoint").exists()
    state.epoch.assign(3)
    state.save()  # numbering continues; the manager keeps two
    assert state.checkpoint_files() == [str(directory / "ckpt-2"), str(directory / "ckpt-3")]


def test_no_readable_checkpoint_is_an_error_naming_them_not_a_silent_restart(tmp_path):
    directory, _ = _two_checkpoints(tmp_path)
    for number in (1, 2):
        _truncate(directory / f"ckpt-{number}.index")
    with pytest.raises(UserInputError, match=r"no checkpoint can be restored: .*ckpt-2 .*ckpt-1 "):
        _state(directory, tmp_path).restore_latest()


def test_an_empty_directory_means_a_fresh_run(tmp_path):
    assert _state(tmp_path / "none", tmp_path).restore_latest() is None

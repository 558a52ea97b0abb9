"""A tiny synthetic dataset and run settings shared by the training tests (seconds per run)."""
import os
import pathlib
import subprocess
import sys

import pytest

from iwo_tf.data.synthetic import SyntheticSpec, generate_synthetic_dataset

REPO = pathlib.Path(__file__).resolve().parents[2]

TINY_SPEC = SyntheticSpec(
    num_classes=4, stream_dims=(16, 16), num_train=24, num_test=8, min_snippets=40, max_snippets=160,
    shards_per_subset=2,
)

# Every value differs from configs/synthetic.py only in size, so the code paths are the main job's.
TINY_OVERRIDES = {
    "data.num_segments": 32,
    "data.batch_size": 8,
    "data.eval_batch_size": 8,
    "data.shuffle_buffer": 64,
    "model.num_modules": 4,
    "winners_out.train_steps": 2,
    "winners_out.epochs_per_step": 3,
    "winners_out.segments_per_step": 3,
    "testing.num_steps": 3,
    "testing.segments_per_step": 3,
    "testing.tiou_thresholds": (0.1, 0.3, 0.5),
    "summaries.num_curve_videos": 1,
    "summaries.histogram_every_epochs": 1,
}


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    return generate_synthetic_dataset(str(tmp_path_factory.mktemp("tiny") / "synthetic"), seed=3, spec=TINY_SPEC)


def tiny_settings(overrides):
    """TINY_OVERRIDES, then `overrides` (keyword-style keys: '__' for the dot)."""
    settings = dict(TINY_OVERRIDES)
    settings.update({key.replace("__", "."): value for key, value in overrides.items()})
    return settings


def tiny_config(data_dir, **overrides):
    """configs/synthetic.py shrunk by TINY_OVERRIDES (then `overrides`, dotted keys with '__')."""
    from configs import synthetic

    config = synthetic.get_config()
    config.data_dir = str(data_dir)
    for dotted, value in tiny_settings(overrides).items():
        section, key = dotted.split(".")
        config[section][key] = value
    return config


def train_command(data_dir, workdir, *extra, **overrides):
    """`python train.py --dataset=synthetic ...` with the tiny settings as --config flags."""
    flags = []
    for dotted, value in tiny_settings(overrides).items():
        if isinstance(value, tuple):
            value = "(" + ",".join(str(v) for v in value) + ",)"
        flags.append(f"--config.{dotted}={value}")
    return [sys.executable, str(REPO / "train.py"), "--dataset=synthetic", f"--data_dir={data_dir}",
            f"--workdir={workdir}", *flags, *extra]


def subprocess_env(**extra):
    """The environment of a training subprocess: this checkout importable, TF start-up logs quiet."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO), **extra)


def run_train(data_dir, workdir, *extra, timeout=300, **overrides):
    return subprocess.run(
        train_command(data_dir, workdir, *extra, **overrides), cwd=str(REPO), env=subprocess_env(), capture_output=True,
        text=True, timeout=timeout,
    )

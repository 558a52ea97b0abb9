"""Experiment configs: each file's `get_config()` returns an `ml_collections.ConfigDict`."""
import os

DATASETS = ("synthetic", "thumos14", "activitynet13")
CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))


def dataset_from_argv(argv) -> str:
    """The --dataset value of a command line, read before flag parsing so that it can choose the config file."""
    for i, arg in enumerate(argv):
        if arg.startswith("--dataset="):
            return arg.split("=", 1)[1]
        if arg == "--dataset" and i + 1 < len(argv):
            return argv[i + 1]
    return "synthetic"


def default_config_file(argv) -> str:
    """`configs/<dataset>.py` for the command line's --dataset (synthetic when it names no known dataset)."""
    dataset = dataset_from_argv(argv)
    return os.path.join(CONFIG_DIR, f"{dataset if dataset in DATASETS else 'synthetic'}.py")

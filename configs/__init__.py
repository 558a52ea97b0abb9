"""Experiment configs: each file's `get_config()` returns an `ml_collections.ConfigDict`."""
import os
import sys

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


def define_config_flag(help_text: str):
    """Defines `--config` (default: `configs/<dataset>.py` of the command line's --dataset), locked,
    with `--config.<key>=<value>` overrides.

    ml_collections applies the overrides while the flag is defined and raises AttributeError or
    KeyError for one that names no config key, before absl could report it; that becomes one line
    on stderr (with ml_collections' "did you mean") and exit status 2.
    """
    from ml_collections import config_flags

    try:
        return config_flags.DEFINE_config_file("config", default_config_file(sys.argv), help_text, lock_config=True)
    except (AttributeError, KeyError) as error:
        inner = error
        while isinstance(inner, BaseException) and inner.args:  # AttributeError(KeyError(message))
            inner = inner.args[0]
        text = str(inner)
        key, _, hint = text.partition("\n")
        key = key.strip("'\"")
        overrides = [arg.split("=", 1)[0] for arg in sys.argv[1:] if arg.startswith("--config.")]
        named = next((arg for arg in overrides if key in arg[len("--config."):].split(".")), "--config.<key>")
        print(f"error: {named}: the config has no key {key!r}. {hint.strip()}".rstrip(), file=sys.stderr)
        raise SystemExit(2) from None

"""Checks every value of an experiment config before a run starts: a one-line error per bad value."""
from __future__ import annotations

import math
import numbers
import re
from typing import Callable, Dict, Optional

from absl import logging

from iwo_tf.errors import UserInputError
from iwo_tf.io import safe_file_component
from iwo_tf.model.iwo_classifier import POOLING_CHOICES, SCORE_METHODS
from iwo_tf.training.model_factory import OPTIMIZERS
from iwo_tf.training.schedule import SCHEDULES
from iwo_tf.training.strategy import STRATEGIES

MAX_LEARNING_RATE = 10.0
MAX_TIOU_THRESHOLDS = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _integer(low: Optional[int] = None, high: Optional[int] = None) -> Callable:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return "must be an integer"
        if low is not None and value < low:
            return f"must be an integer >= {low}"
        if high is not None and value > high:
            return f"must be an integer <= {high}"
        return None
    return check


def _number(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable:
    left, right = "(" if low_open else "[", ")" if high_open else "]"

    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return f"must be a finite number in {left}{low}, {high}{right}"
        if value < low or (low_open and value == low) or value > high or (high_open and value == high):
            return f"must be in {left}{low}, {high}{right}"
        return None
    return check


def _boolean(value):
    return None if isinstance(value, bool) else "must be true or false"


def _one_of(choices) -> Callable:
    def check(value):
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def _name(value):
    if not isinstance(value, str) or not _NAME.match(value):
        return "must be a non-empty name of letters, digits, '.', '_' or '-'"
    return None


def _model_name(value):
    if not isinstance(value, str) or not value or safe_file_component(value) != value or value in (".", ".."):
        return "must be a non-empty name of letters, digits, '.', '_' or '-' (it names a directory of the export)"
    return None


def _path(value):
    return None if isinstance(value, str) and value and "\x00" not in value else "must be a non-empty path"


def _stream_weights(value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
        return "must be a non-empty list of numbers (one weight per feature stream)"
    for weight in value:
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight) or weight < 0:
            return "must hold finite weights >= 0"
    if not any(weight > 0 for weight in value):
        return "must hold at least one weight > 0"
    return None


def _tiou_thresholds(value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
        return "must be a non-empty list of tIoU thresholds in (0, 1]"
    if len(value) > MAX_TIOU_THRESHOLDS:
        return f"must hold at most {MAX_TIOU_THRESHOLDS} thresholds"
    for threshold in value:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < threshold <= 1:
            return "must hold tIoU thresholds in (0, 1]"
    if len(set(value)) != len(value):
        return "must not repeat a threshold"
    return None


# Every key of configs/base.py (and configs/synthetic.py's synthetic_seed), dotted, with its rule.
RULES: Dict[str, Callable] = {
    "dataset": _name,
    "data_dir": _path,
    "seed": _integer(0, 2**32 - 1),
    "synthetic_seed": _integer(0, 2**32 - 1),
    "deterministic": _boolean,
    "strategy": _one_of(STRATEGIES),
    "data.num_segments": _integer(1, 100_000),
    "data.snippets_per_segment": _integer(1, 1_000),
    "data.batch_size": _integer(1),
    "data.shuffle_buffer": _integer(1),
    "data.eval_batch_size": _integer(1),
    "model.num_modules": _integer(1, 1_000),
    "model.dropout_rate": _number(0.0, 1.0, high_open=True),
    "model.pooling": _one_of(POOLING_CHOICES),
    "model.use_shifting_bias": _boolean,
    "model.orthogonality_weight": _number(0.0, 1e6),
    "optimizer.name": _one_of(OPTIMIZERS),
    "optimizer.learning_rate": _number(0.0, MAX_LEARNING_RATE, low_open=True),
    "optimizer.momentum": _number(0.0, 1.0, high_open=True),
    "optimizer.decay_every_epochs": _integer(0),
    "optimizer.decay_factor": _number(0.0, 1.0, low_open=True),
    "optimizer.schedule": _one_of(SCHEDULES),
    "winners_out.train_steps": _integer(1, 1_000),
    "winners_out.epochs_per_step": _integer(1),
    "winners_out.segments_per_step": _integer(0),
    "winners_out.reinitialize": _boolean,
    "winners_out.control": _boolean,
    "winners_out.score_method": _one_of(SCORE_METHODS),
    "winners_out.stream_weights": _stream_weights,
    "testing.num_steps": _integer(1, 10_000),
    "testing.top_q": _integer(1),
    "testing.segments_per_step": _integer(0),
    "testing.compare_single_step": _boolean,
    "testing.single_step_p": _boolean,
    "testing.tiou_thresholds": _tiou_thresholds,
    "testing.evaluate_every_wo_step": _boolean,
    "convergence_guard.after_epochs": _integer(0, 1_000),
    "convergence_guard.tolerance": _number(0.0, 1.0, low_open=True, high_open=True),
    "summaries.num_curve_videos": _integer(0, 1_000),
    "summaries.histogram_every_epochs": _integer(0),
    "export.enabled": _boolean,
    "export.model_name": _model_name,
}


def _flatten(config, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if hasattr(value, "items") and not isinstance(value, (str, bytes)):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def validate_config(config) -> None:
    """Checks every known value of an experiment config (types and ranges) and their relations.

    Unknown keys are logged, not refused (a config file may carry settings of its own).

    Args:
        config: the experiment `ConfigDict` (or a mapping of the same shape).

    Raises:
        UserInputError: `config.<key>=<value>: <what is wrong>`, one line, for the first bad value.
    """
    values = _flatten(config)
    for key, rule in RULES.items():
        if key not in values:
            if key == "synthetic_seed":
                continue
            raise UserInputError(f"config.{key} is missing (every config starts from configs/base.py)")
        problem = rule(values[key])
        if problem:
            raise UserInputError(f"config.{key}={values[key]!r}: {problem}")
    num_segments = values["data.num_segments"]
    for key in ("winners_out.segments_per_step", "testing.segments_per_step"):
        if values[key] > num_segments:
            raise UserInputError(f"config.{key}={values[key]}: must be <= config.data.num_segments={num_segments}")
    unknown = sorted(set(values) - set(RULES))
    if unknown:
        logging.warning("config keys this version does not check: %s", ", ".join(unknown))

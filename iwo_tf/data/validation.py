"""Content checks on one video before it is written; each failure names the file, the video and the problem."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from iwo_tf.errors import UserInputError

# What to do with a video of a kind of problem (the converter's --on_* flags).
POLICIES = ("skip", "error")

# Reasons a video can be refused or skipped; dataset.json counts skips under these names.
WRONG_DIMENSION = "wrong_feature_dimension"
NON_FINITE = "non_finite_features"
NO_SNIPPETS = "zero_snippets"
UNKNOWN_LABEL = "label_not_in_class_list"
MISSING_FEATURES = "annotated_but_no_features"
MISSING_ANNOTATION = "features_but_not_annotated"
DUPLICATE_ID = "duplicate_video_id"
BAD_ANNOTATION = "bad_annotation"
UNREADABLE_FEATURES = "unreadable_features"
NON_NUMERIC = "non_numeric_features"
BAD_TIMING = "bad_timing"


class BadVideoError(UserInputError):
    """One video cannot be converted.

    Args:
        reason: one of the reason constants of this module (a stable key for counting skips).
        video_id: the video.
        path: the file the problem was found in (features or annotations).
        problem: a sentence for a person.
    """

    def __init__(self, reason: str, video_id: str, path: Optional[str], problem: str):
        self.reason = reason
        self.video_id = video_id
        self.path = path
        self.problem = problem
        super().__init__(f"{path or '<no file>'}: video {video_id!r}: {problem}")


def check_stream_dims(stream_dims: Sequence) -> tuple:
    """The widths of the feature streams as positive ints (strings such as `"1024"` accepted).

    Raises:
        UserInputError: empty, not integers, or a width < 1 (one line naming --stream_dims).
    """
    try:
        dims = tuple(int(str(d).strip()) for d in stream_dims)
    except ValueError:
        dims = ()
    if not dims or min(dims) < 1:
        text = ",".join(str(d) for d in stream_dims)
        raise UserInputError(f"--stream_dims={text}: expected one positive integer width per stream, e.g. 1024,1024")
    return dims


def check_features(features: np.ndarray, *, video_id: str, path: Optional[str], stream_dims: Sequence[int]) -> np.ndarray:
    """Returns `features` as float32 `[T, D]` or raises BadVideoError.

    Args:
        features: the loaded array.
        video_id: for the message.
        path: the file it came from, for the message.
        stream_dims: the expected stream widths; D must equal their sum.
    """
    features = np.asarray(features)
    dtype = features.dtype
    if dtype == np.bool_ or not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise BadVideoError(NON_NUMERIC, video_id, path, f"features have dtype {dtype}; expected real numbers (float or integer)")
    expected = int(sum(stream_dims))
    if features.ndim != 2:
        raise BadVideoError(WRONG_DIMENSION, video_id, path, f"features must be 2-D [T, D], got shape {features.shape}")
    if features.shape[1] != expected:
        raise BadVideoError(
            WRONG_DIMENSION, video_id, path, f"features have D={features.shape[1]}, expected {expected} (streams {list(stream_dims)})"
        )
    if features.shape[0] == 0:
        raise BadVideoError(NO_SNIPPETS, video_id, path, "the video has zero snippets")
    features = features.astype(np.float32, copy=False)
    finite = np.isfinite(features)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise BadVideoError(
            NON_FINITE, video_id, path,
            f"{bad_rows.size} of {features.shape[0]} snippets hold NaN or Inf (first at snippet {int(bad_rows[0])})",
        )
    return features


def _seconds(value, name: str, *, video_id: str, path: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadVideoError(BAD_TIMING, video_id, path, f"{name} {value!r} is not a number") from None
    if not np.isfinite(number):
        raise BadVideoError(BAD_TIMING, video_id, path, f"{name} {value!r} is not finite")
    return number


def check_timing(*, duration, stride, offset, video_id: str, path: Optional[str]) -> tuple:
    """`(duration, stride, offset)` as floats, or raises BadVideoError.

    Args:
        duration: seconds, finite and >= 0; None = not known (computed from T later).
        stride: seconds between snippets, finite and > 0; None = not known (fit to the duration).
        offset: start of snippet 0, finite.
        video_id: for the message.
        path: the file the timing came from, for the message.
    """
    duration = _seconds(duration, "duration", video_id=video_id, path=path)
    stride = _seconds(stride, "snippet stride (seconds)", video_id=video_id, path=path)
    offset = _seconds(offset, "snippet offset (seconds)", video_id=video_id, path=path)
    if duration is not None and duration < 0:
        raise BadVideoError(BAD_TIMING, video_id, path, f"duration {duration} is negative")
    if stride is not None and stride <= 0:
        raise BadVideoError(BAD_TIMING, video_id, path, f"snippet stride {stride} s is not positive")
    return duration, stride, offset


def check_labels(label_names: Sequence[str], class_index: dict, *, video_id: str, path: Optional[str]) -> list:
    """Maps class names to indices or raises BadVideoError naming the unknown ones."""
    unknown = sorted({name for name in label_names if name not in class_index})
    if unknown:
        raise BadVideoError(UNKNOWN_LABEL, video_id, path, f"labels {unknown} are not in the class list")
    return [class_index[name] for name in label_names]

"""Serving-time input validation: every bad request becomes an InvalidArgument with a readable message.

TF Serving hands whatever a client sends straight to the graph, so the checks live in the graph too.
They are plain `tf.debugging` ops (no Python callbacks) and run before any computation that would
fail with a less readable message or, worse, compute a silently wrong answer from NaN, Inf, a
negative stride or a wrong D.
"""
from __future__ import annotations

import tensorflow as tf

TOO_LARGE = "(or values so large that their squares overflow float32)"


def _gated(value, checks):
    with tf.control_dependencies(checks):
        return tf.identity(value)


def check_snippet_features(features, feature_dim: int, what: str = "features"):
    """Validates raw snippet features `[T, D]` of one video.

    Rejects T = 0 (nothing to localize), a feature dimension other than the model's, and NaN or Inf
    values (they would propagate into every class score).

    Args:
        features: `[T, D]` float32 tensor with a dynamic D.
        feature_dim: the model's D (sum of the stream dimensions).
        what: how error messages name the tensor (a string, or a list of strings and string
            tensors, e.g. `["record", video_id]`).

    Returns:
        The features with static shape `[None, feature_dim]`, gated on the checks.
    """
    features = tf.convert_to_tensor(features, tf.float32)
    prefix = list(what) if isinstance(what, (list, tuple)) else [what]
    shape = tf.shape(features)
    shape_checks = [
        tf.debugging.Assert(
            tf.equal(shape[1], feature_dim),
            prefix + [f": wrong feature dimension, this model expects D={feature_dim} per snippet, got", shape[1]],
        ),
        tf.debugging.Assert(
            shape[0] > 0, prefix + [": no snippets (T=0); at least one snippet is needed to localize"]
        ),
    ]
    # The shape checks must fire first: a finiteness check on a [0, D] tensor passes, and on a
    # wrong-D tensor the dimension is the more useful message.
    with tf.control_dependencies(shape_checks):
        # A snippet's norm is non-finite when any value is, or when the squares overflow (which
        # would silently zero the attention's normalisation): one reading pass, no [T, D] temporary.
        finite = tf.debugging.Assert(
            tf.reduce_all(tf.math.is_finite(tf.math.reduce_euclidean_norm(features, axis=1))),
            prefix + [f": contain NaN or Inf values {TOO_LARGE}"],
        )
    return tf.ensure_shape(_gated(features, [finite]), [None, feature_dim])


def check_nonnegative_int(value, name: str, upper: int | None = None):
    """Validates a scalar int32 input, `0 <= value (<= upper)`; returns it gated on the checks."""
    value = tf.convert_to_tensor(value, tf.int32)
    checks = [tf.debugging.assert_non_negative(value, message=f"{name} must be >= 0")]
    if upper is not None:
        checks.append(
            tf.debugging.assert_less_equal(
                value, tf.constant(upper, tf.int32), message=f"{name} must be <= {upper} (fixed at export)"
            )
        )
    return _gated(value, checks)


def check_timing(stride, offset, duration, what=()):
    """Validates snippet timing (scalars or vectors): stride finite and > 0, offset finite, duration
    finite and >= 0 (0 = unknown). Returns the three gated on the checks.

    Args:
        stride, offset, duration: float32 tensors of one shape.
        what: a prefix for the messages (strings and string tensors, e.g. `["record", video_id]`).
    """
    stride = tf.convert_to_tensor(stride, tf.float32)
    offset = tf.convert_to_tensor(offset, tf.float32)
    duration = tf.convert_to_tensor(duration, tf.float32)
    prefix = list(what) + ([": "] if what else [])
    checks = [
        tf.debugging.Assert(
            tf.reduce_all(tf.logical_and(tf.math.is_finite(stride), stride > 0)),
            prefix + ["snippet_stride_sec must be finite and > 0, got", stride],
        ),
        tf.debugging.Assert(
            tf.reduce_all(tf.math.is_finite(offset)), prefix + ["snippet_offset_sec must be finite, got", offset]
        ),
        tf.debugging.Assert(
            tf.reduce_all(tf.logical_and(tf.math.is_finite(duration), duration >= 0)),
            prefix + ["duration must be finite and >= 0 (0 = unknown), got", duration],
        ),
    ]
    return tuple(_gated(x, checks) for x in (stride, offset, duration))


def check_finite_outputs(outputs: dict, keys=("score", "start_sec", "end_sec", "video_scores")):
    """Fails the request when a detection or class score, or a detection time, is NaN or Inf.

    Finite inputs can still overflow float32 (features near 3e38, a stride of 1e38 times T); the
    answer must then be an error, never NaN or Infinity in a result.
    """
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(outputs[key])) for key in keys])
    check = tf.debugging.Assert(
        finite,
        ["localize: non-finite scores or detection times (feature values or snippet timing too large for float32)"],
    )
    return {key: _gated(value, [check]) for key, value in outputs.items()}

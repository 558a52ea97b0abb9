"""Serving-time input validation: every bad request becomes an InvalidArgument with a readable message.

TF Serving hands whatever a client sends straight to the graph, so the checks live in the graph too.
They are plain `tf.debugging` ops (no Python callbacks) and run before any computation that would
fail with a less readable message or, worse, compute a silently wrong answer from NaN or a wrong D.
"""
from __future__ import annotations

import tensorflow as tf


def check_snippet_features(features, feature_dim: int, what: str = "features"):
    """Validates raw snippet features `[T, D]` of one video.

    Rejects T = 0 (nothing to localize), a feature dimension other than the model's, and NaN or Inf
    values (they would propagate into every class score).

    Args:
        features: `[T, D]` float32 tensor with a dynamic D.
        feature_dim: the model's D (sum of the stream dimensions).
        what: how error messages name the tensor.

    Returns:
        The features with static shape `[None, feature_dim]`, gated on the checks.
    """
    features = tf.convert_to_tensor(features, tf.float32)
    shape = tf.shape(features)
    shape_checks = [
        tf.debugging.assert_equal(
            shape[1],
            tf.constant(feature_dim, tf.int32),
            message=f"{what}: wrong feature dimension, this model expects D={feature_dim} per snippet",
        ),
        tf.debugging.assert_positive(
            shape[0], message=f"{what}: no snippets (T=0); at least one snippet is needed to localize"
        ),
    ]
    # The shape checks must fire first: check_numerics on a [0, D] tensor passes, and on a wrong-D
    # tensor the dimension is the more useful message.
    with tf.control_dependencies(shape_checks):
        # is_finite + reduce_all is about 3x cheaper than check_numerics on long inputs.
        finite = tf.debugging.Assert(
            tf.reduce_all(tf.math.is_finite(features)), [f"{what}: contain NaN or Inf values"]
        )
    with tf.control_dependencies([finite]):
        features = tf.identity(features)
    return tf.ensure_shape(features, [None, feature_dim])


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
    with tf.control_dependencies(checks):
        return tf.identity(value)


def check_finite_scalar(value, name: str, nonnegative: bool = False):
    """Validates a float32 scalar (or vector) is finite, and optionally >= 0; returns it gated."""
    value = tf.debugging.check_numerics(tf.convert_to_tensor(value, tf.float32), f"{name} must be finite")
    if not nonnegative:
        return value
    with tf.control_dependencies([tf.debugging.assert_non_negative(value, message=f"{name} must be >= 0")]):
        return tf.identity(value)

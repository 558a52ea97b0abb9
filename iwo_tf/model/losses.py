"""The classification loss of Eq. 6 (its attention regulariser lives with the attention layer)."""
from __future__ import annotations

import keras
import tensorflow as tf

from iwo_tf.model.shifted_group_attention import attention_orthogonality_penalty  # noqa: F401 (re-export)


def normalized_label_cross_entropy(labels, logits):
    """The cross-entropy term of Eq. 6 between softmax(logits) and `y / ||y||_1`.

    A video with several action classes spreads its probability mass evenly over them. A row of
    all-zero labels contributes 0 (it has no target distribution).

    Args:
        labels: `[B, C]` multi-hot video-level labels.
        logits: `[B, C]` class logits (before the softmax).

    Returns:
        `[B]` per-video losses.
    """
    labels = tf.cast(labels, logits.dtype)
    targets = tf.math.divide_no_nan(labels, tf.reduce_sum(labels, axis=-1, keepdims=True))
    return -tf.reduce_sum(targets * tf.nn.log_softmax(logits, axis=-1), axis=-1)


@keras.saving.register_keras_serializable(package="iwo_tf")
class NormalizedLabelCrossEntropy(keras.losses.Loss):
    """Keras loss wrapper of `normalized_label_cross_entropy` (Eq. 6, first term).

    Args:
        name: loss name.
        **kwargs: standard `keras.losses.Loss` arguments (e.g. `reduction`).
    """

    def __init__(self, name="normalized_label_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return normalized_label_cross_entropy(y_true, y_pred)

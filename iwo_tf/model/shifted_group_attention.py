"""Group attention with the shifting operation (Eqs. 2-5 of Zeng et al., TIP 2019)."""
from __future__ import annotations

import math
from typing import NamedTuple

import keras
import tensorflow as tf

# Squared norms below this are treated as zero: the module output is then 0 instead of NaN.
_MIN_SQUARED_NORM = 1e-24


class AttentionTerms(NamedTuple):
    """What one stream's attention block computed, kept for Class-specific Score Computing.

    Shapes use B videos, Q mask variants per video (e.g. one per class under winners-out testing),
    M modules, K segments and D feature dimensions.

    Attributes:
        attention: `[B, Q, M, K]` attention weights `a_{m,k}`; exactly 0 on removed segments.
        scale: `[B, Q, M]` the factor `alpha_m / (sqrt(M) * ||alpha_m A_m H (+ beta_m)||_2)` that
            multiplies `A_m H` in Eq. 4 (and Eq. 7).
        module_outputs: `[B, Q, M, D]` the module outputs `v_m` (Eq. 4).
    """

    attention: tf.Tensor
    scale: tf.Tensor
    module_outputs: tf.Tensor


def group_attention_logits(features, kernel, position_bias):
    """The argument of the softmax in Eq. 3, `W H^T + B`.

    Args:
        features: `[B, K, D]` segment features H.
        kernel: `[D, M]` the attention weights W (transposed).
        position_bias: `[M, K]` the learnable bias B, one per module and segment position.

    Returns:
        `[B, M, K]` attention logits.
    """
    return tf.einsum("bkd,dm->bmk", features, kernel) + position_bias[None]


def masked_segment_softmax(logits, keep_mask):
    """The softmax over segments of Eq. 3, restricted to the segments winners-out has kept.

    A removed segment gets a weight of exactly 0. When every segment is removed all weights are 0
    (not NaN), so the video's pooled feature is 0 and its class logits reduce to the FC bias.

    Args:
        logits: `[B, M, K]` or `[B, Q', M, K]` attention logits.
        keep_mask: float mask that broadcasts against `logits` once a module axis is inserted,
            i.e. `[B, K]` or `[B, Q, K]`; values > 0 mean kept.

    Returns:
        Attention weights with the broadcast shape of `logits` and the mask.
    """
    kept = tf.expand_dims(keep_mask, axis=-2) > 0
    shape = tf.broadcast_dynamic_shape(tf.shape(logits), tf.shape(kept))
    kept = tf.broadcast_to(kept, shape)
    logits = tf.broadcast_to(logits, shape)
    # A finite fill keeps gradients NaN-free; removed weights are zeroed again after exp.
    lowest = tf.fill(shape, logits.dtype.min)
    masked_logits = tf.where(kept, logits, lowest)
    shifted = masked_logits - tf.reduce_max(masked_logits, axis=-1, keepdims=True)
    weights = tf.where(kept, tf.exp(shifted), tf.zeros_like(shifted))
    return tf.math.divide_no_nan(weights, tf.reduce_sum(weights, axis=-1, keepdims=True))


def shifted_module_outputs(attention, features, alpha, shifting_bias=None):
    """Module outputs with the shifting operation, Eq. 4.

    `v_m = (alpha_m A_m H + beta_m) / (sqrt(M) ||alpha_m A_m H + beta_m||_2)`, where the shifting bias
    `beta_m` (Attention Clusters, the paper's Table VII variant) is absent by default.

    Args:
        attention: `[B, Q, M, K]` attention weights.
        features: `[B, K, D]` segment features H.
        alpha: `[M]` learnable scalars.
        shifting_bias: optional `[M]` learnable scalars beta.

    Returns:
        `(module_outputs [B, Q, M, D], scale [B, Q, M])` with scale the factor multiplying `A_m H`.
    """
    num_modules = attention.shape[-2]
    attended = tf.einsum("bqmk,bkd->bqmd", attention, features)
    shifted = alpha[:, None] * attended
    if shifting_bias is not None:
        shifted = shifted + shifting_bias[:, None]
    squared_norm = tf.reduce_sum(tf.square(shifted), axis=-1)
    norm = tf.sqrt(tf.maximum(squared_norm, _MIN_SQUARED_NORM))
    inverse = 1.0 / (math.sqrt(num_modules) * norm)
    return shifted * inverse[..., None], alpha * inverse


def attention_orthogonality_penalty(attention):
    """The regulariser of Eq. 6, `||A A^T - I||_F^2`, averaged over the batch.

    Args:
        attention: `[B, M, K]` attention weights of one stream.

    Returns:
        A scalar.
    """
    gram = tf.einsum("bmk,bnk->bmn", attention, attention)
    identity = tf.eye(tf.shape(attention)[1], dtype=attention.dtype)
    return tf.reduce_mean(tf.reduce_sum(tf.square(gram - identity), axis=[1, 2]))


def _as_variant_mask(features, keep_mask):
    """Returns a `[B, Q, K]` float mask and whether the caller passed a single `[B, K]` mask."""
    if keep_mask is None:
        keep_mask = tf.ones(tf.shape(features)[:2], dtype=features.dtype)
    keep_mask = tf.cast(keep_mask, features.dtype)
    if keep_mask.shape.rank == 2:
        return keep_mask[:, None, :], True
    if keep_mask.shape.rank == 3:
        return keep_mask, False
    raise ValueError(f"keep_mask must be [B, K] or [B, Q, K], got shape {keep_mask.shape}")


def check_segment_inputs(features, keep_mask, num_segments, feature_dim, name):
    """Validates `[B, K, D]` features and a `[B, K]` / `[B, Q, K]` mask with readable errors."""
    if features.shape.rank != 3:
        raise ValueError(f"{name}: features must be [batch, segments, dims], got shape {features.shape}")
    static_k, static_d = features.shape[1], features.shape[2]
    if static_d is not None and static_d != feature_dim:
        raise ValueError(f"{name}: features have {static_d} dimensions, expected {feature_dim}")
    if static_k is not None and static_k != num_segments:
        raise ValueError(f"{name}: features have {static_k} segments, expected K={num_segments}")
    if keep_mask is not None and keep_mask.shape[-1] is not None and keep_mask.shape[-1] != num_segments:
        raise ValueError(f"{name}: keep-mask has length {keep_mask.shape[-1]}, expected K={num_segments}")


@keras.saving.register_keras_serializable(package="iwo_tf")
class ShiftedGroupAttention(keras.layers.Layer):
    """M attention modules with the shifting operation over K segments of one feature stream.

    Implements Eqs. 3-5: `A = softmax(W H^T + B)` along segments (restricted to the segments
    winners-out has kept), `v_m = alpha_m A_m H / (sqrt(M) ||alpha_m A_m H||_2)`, `g = [v_1..v_M]`.
    Adds the orthogonality penalty of Eq. 6 (`orthogonality_weight * ||A A^T - I||_F^2`) as a layer
    loss while training.

    Args:
        num_modules: M, the number of attention modules.
        num_segments: K, the number of segments (the position bias B is M x K).
        use_shifting_bias: add the Attention-Clusters shifting bias beta (Table VII variant).
        orthogonality_weight: beta of Eq. 6; 0 disables the penalty.
        kernel_initializer: initializer for W.
        **kwargs: standard Keras layer arguments.

    Call arguments:
        features: `[B, K, D]` segment features.
        keep_mask: optional `[B, K]` float mask, > 0 for kept segments.

    Returns:
        `[B, M * D]` the concatenated module outputs g (Eq. 5).

    Reference:
        Zeng et al., "Breaking Winner-Takes-All: Iterative-Winners-Out Networks for Weakly
        Supervised Temporal Action Localization", IEEE TIP 2019, Sec. III-C; Long et al.,
        "Attention Clusters", CVPR 2018 (the shifting operation).
    """

    def __init__(
        self,
        num_modules=18,
        num_segments=400,
        use_shifting_bias=False,
        orthogonality_weight=0.1,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_modules < 1 or num_segments < 1:
            raise ValueError(f"num_modules and num_segments must be >= 1, got {num_modules}, {num_segments}")
        self.num_modules = num_modules
        self.num_segments = num_segments
        self.use_shifting_bias = use_shifting_bias
        self.orthogonality_weight = orthogonality_weight
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        feature_dim = input_shape[-1]
        if feature_dim is None:
            raise ValueError(f"{self.name}: the feature dimension must be known when building")
        self.feature_dim = int(feature_dim)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.feature_dim, self.num_modules), initializer=self.kernel_initializer
        )
        self.position_bias = self.add_weight(
            name="position_bias", shape=(self.num_modules, self.num_segments), initializer="zeros"
        )
        self.alpha = self.add_weight(name="alpha", shape=(self.num_modules,), initializer="ones")
        self.shifting_bias = None
        if self.use_shifting_bias:
            self.shifting_bias = self.add_weight(
                name="shifting_bias", shape=(self.num_modules,), initializer="zeros"
            )

    def attention_logits(self, features):
        """The mask-independent `W H^T + B` of Eq. 3, `[B, M, K]`, for hoisting out of winners-out loops."""
        features = tf.convert_to_tensor(features, dtype=self.compute_dtype)
        return group_attention_logits(features, self.kernel, self.position_bias)

    def attend(self, features, keep_mask=None, logits=None):
        """Runs Eqs. 3-4 for one or several keep-masks per video.

        Args:
            features: `[B, K, D]` segment features.
            keep_mask: `[B, K]` or `[B, Q, K]` float mask (> 0 = kept), or None for all kept.
            logits: optional `attention_logits(features)`, computed once when the same features
                are attended under many masks (winners-out); None computes them here.

        Returns:
            `AttentionTerms` with a Q axis (Q = 1 for a `[B, K]` mask).
        """
        features = tf.convert_to_tensor(features, dtype=self.compute_dtype)
        check_segment_inputs(features, keep_mask, self.num_segments, self.feature_dim, self.name)
        variant_mask, _ = _as_variant_mask(features, keep_mask)
        # Zeroing removed segments keeps non-finite values there from reaching any output.
        features = tf.where(tf.reduce_any(variant_mask > 0, axis=1)[..., None], features, 0.0)
        if logits is None:
            logits = group_attention_logits(features, self.kernel, self.position_bias)
        # Precomputed logits at removed segments (possibly non-finite) never reach the output: the
        # masked softmax replaces them before any arithmetic, and logits are per-segment.
        attention = masked_segment_softmax(logits[:, None], variant_mask)
        outputs, scale = shifted_module_outputs(attention, features, self.alpha, self.shifting_bias)
        return AttentionTerms(attention=attention, scale=scale, module_outputs=outputs)

    def call(self, features, keep_mask=None, training=None):
        terms = self.attend(features, keep_mask)
        if training and self.orthogonality_weight:
            self.add_loss(self.orthogonality_weight * attention_orthogonality_penalty(terms.attention[:, 0]))
        outputs = terms.module_outputs[:, 0]
        return tf.reshape(outputs, [-1, self.num_modules * self.feature_dim])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_modules * input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_modules": self.num_modules,
                "num_segments": self.num_segments,
                "use_shifting_bias": self.use_shifting_bias,
                "orthogonality_weight": self.orthogonality_weight,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config

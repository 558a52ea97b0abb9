"""Class-specific Score Computing, CSC (Eqs. 7-10), as closed-form algebra on weights and activations.

No gradient tape is involved: the score of segment k for class j is read off the factorisation of
the class logit in Eq. 7, using the attention weights, the shifting scale and the slice `z_m^j` of
the fully connected kernel that connects module m to class j.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def module_class_kernels(kernel, stream_dims: Sequence[int], num_modules: int):
    """Splits the FC kernel into the `z_m^j` of Eq. 7, one `[M, D_s, C]` tensor per stream.

    The classifier's input is `g_final = [g_1, ..., g_S]` with `g_s = [v_1, ..., v_M]` (Eq. 5), so the
    rows of the `[sum_s M * D_s, C]` kernel are ordered stream-major, then module, then dimension.

    Args:
        kernel: `[sum_s M * D_s, C]` fully connected kernel.
        stream_dims: the feature dimension D_s of each stream.
        num_modules: M.

    Returns:
        A list with one `[M, D_s, C]` tensor per stream.
    """
    sizes = [num_modules * dim for dim in stream_dims]
    parts = tf.split(kernel, sizes, axis=0)
    return [tf.reshape(part, [num_modules, dim, -1]) for part, dim in zip(parts, stream_dims)]


def segment_class_projections(features, class_kernel, class_indices=None):
    """The products `h_k . z_m^j` of Eq. 7 for the requested classes.

    They do not depend on the keep-mask, so winners-out computes them once per video and class.

    Args:
        features: `[B, K, D]` segment features of one stream.
        class_kernel: `[M, D, C]` kernel slices of that stream.
        class_indices: optional `[B, Q]` int class indices; None means all C classes (Q = C).

    Returns:
        `[B, Q, M, K]` projections.
    """
    if class_indices is None:
        return tf.einsum("bkd,mdc->bcmk", features, class_kernel)
    gathered = tf.gather(class_kernel, class_indices, axis=2)  # [M, D, B, Q]
    return tf.einsum("bkd,mdbq->bqmk", features, gathered)


def csc_terms(attention, scale, projections):
    """The per-segment terms of Eq. 7 before the ReLU of Eq. 8.

    `sum_m alpha_m a_{m,k} / (sqrt(M) ||alpha_m A_m H||_2) * (h_k . z_m^j)`. Summed over segments
    (and streams) they give the class logit minus the FC bias (and minus the shifting-bias term when
    that option is on).

    Args:
        attention: `[B, Q', M, K]` attention weights (Q' = 1 or Q).
        scale: `[B, Q', M]` the shifting scale.
        projections: `[B, Q, M, K]` from `segment_class_projections`.

    Returns:
        `[B, Q, K]` terms.
    """
    weights = attention * scale[..., None]
    return tf.reduce_sum(weights * projections, axis=-2)


def class_specific_scores(attention, scale, projections):
    """The CSC importance scores lambda^j of Eqs. 8-9: ReLU of the Eq. 7 terms.

    Args:
        attention: `[B, Q', M, K]` attention weights.
        scale: `[B, Q', M]` the shifting scale.
        projections: `[B, Q, M, K]` segment-class projections.

    Returns:
        `[B, Q, K]` non-negative scores.
    """
    return tf.nn.relu(csc_terms(attention, scale, projections))


def stream_weight_values(stream_weights, num_streams: int) -> tuple:
    """The Eq. 10 fusion weights as floats, one per stream (None: 1 for every stream).

    Raises:
        ValueError: another number of weights than streams (never broadcast).
    """
    if stream_weights is None:
        return (1.0,) * num_streams
    if len(stream_weights) != num_streams:
        raise ValueError(f"{num_streams} streams but {len(stream_weights)} stream weights")
    return tuple(float(w) for w in stream_weights)


def fuse_stream_scores(stream_scores, stream_weights):
    """The two-stream fusion of Eq. 10, `lambda_rgb + gamma * lambda_flow` (any number of streams).

    Args:
        stream_scores: a list of `[B, Q, K]` scores, one per stream.
        stream_weights: one weight per stream, e.g. `(1.0, gamma)`.

    Returns:
        `[B, Q, K]` fused scores.
    """
    weights = stream_weight_values(stream_weights, len(stream_scores))
    return tf.add_n([w * s for w, s in zip(weights, stream_scores)])


def attention_segment_scores(attention):
    """The class-agnostic baseline: a segment's attention weight averaged over the M modules.

    This is what attention-driven localization (UntrimmedNet-style) ranks segments by; the paper
    compares winners-out driven by it with CSC (Sec. VI-C.2).

    Args:
        attention: `[B, Q, M, K]` attention weights.

    Returns:
        `[B, Q, K]` scores.
    """
    return tf.reduce_mean(attention, axis=-2)

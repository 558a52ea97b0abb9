"""Winners-out testing (Algorithm 2) with incremental steps: the detections of `localize` for a
fraction of the arithmetic and of the graph ops.

Per stream, the attention numerators `e_mk = exp(w_m . h_k + b_mk - c_m)` (Eq. 3) and the CSC
projections `h_k . z_m^j` (Eq. 7) do not depend on which segments remain, so they are computed once
per video (and class). A step then needs, per (video, class), `S_m = sum_k e_mk` and
`N_m = sum_k e_mk h_k` over the remaining segments (the attention of Eq. 3 is `e_mk / S_m` and the
shifting scale of Eq. 4 is `alpha_m / (sqrt(M) ||alpha_m N_m / S_m + beta_m||)`): `S_m` is re-summed
(M x K multiply-adds), `N_m` is updated by subtracting the p segments the step took (p x M x D
instead of K x M x D), and the Eq. 7 terms are one `[M] x [M, K]` product. The streams are stacked
on one axis (narrower ones zero-padded, which changes no sum), so a step is one set of ops.

Exactness: the running difference `N_m - removed` carries a float32 rounding error proportional to
`||N_anchor|| + sum ||removed||`. When `||N_m||` falls below 1% of that (or `S_m` below 1e-30 of its
anchor value, i.e. exp underflow ahead), all pairs are re-anchored: `c_m` becomes the max over the
remaining segments and `S_m`, `N_m` are summed afresh, as the reference path does at every step.
Ties and non-finite scores rank as in `select_top_p`. Tests hold it to `localize`.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import tensorflow as tf

from iwo_tf.model.csc import stream_weight_values
from iwo_tf.winners_out.select import WinnersOutSelection

# ||N_m|| below this fraction of `||N_anchor|| + sum ||removed||` triggers an exact re-anchor: the
# float32 error of the running difference (eps ~6e-8 of that sum) then stays below ~1e-5 of ||N_m||.
_CANCELLATION_RATIO = 1e-2
# S_m below this fraction of its anchor value: re-anchor before exp() underflows.
_UNDERFLOW_RATIO = 1e-30
_MIN_SQUARED_NORM = 1e-24  # as in the attention layer


class StackedStreams(NamedTuple):
    """The streams of a batch stacked on axis 1 (S streams, D = the widest, narrower zero-padded).

    Attributes:
        features: `[B, S, K, D]` segment features H.
        logits: `[B, S, M, K]` attention logits `W H^T + B` (Eq. 3).
        norms: `[B, S, K]` feature norms `||h_k||` (for the rounding-error bound).
        class_rows: `[S * M * D, C]` the `z_m^j` of Eq. 7 (rows: stream, module, dimension).
        alpha: `[S, M]`; shifting_bias: `[S, M]` or None.
        dims_mask: `[S, D]` 1 on each stream's own dimensions (beta shifts only those).
        base: `(e [B, S, 1, M, K], S [B, S, 1, M], N [B, S, 1, M, D])` over the initial keep-mask.
    """

    features: tf.Tensor
    logits: tf.Tensor
    norms: tf.Tensor
    class_rows: tf.Tensor
    alpha: tf.Tensor
    shifting_bias: Optional[tf.Tensor]
    dims_mask: tf.Tensor
    base: tuple


def _tensor(variable):
    return tf.convert_to_tensor(variable, tf.float32)


def _pad_last(x, width):
    extra = width - int(x.shape[-1])
    return x if extra == 0 else tf.pad(x, [[0, 0]] * (x.shape.rank - 1) + [[0, extra]])


def _pad_rows(x, height):
    extra = height - int(x.shape[0])
    return x if extra == 0 else tf.pad(x, [[0, extra], [0, 0]])


def _exp_sums(logits, remaining, features):
    """Exact sums over `remaining` `[B, Q, K]`: `(e [B, S, Q, M, K], S [B, S, Q, M], N [B, S, Q, M, D])`."""
    kept = remaining[:, None, :, None, :]
    masked = tf.where(kept, logits[:, :, None], tf.constant(-math.inf, tf.float32))
    peak = tf.reduce_max(masked, axis=-1, keepdims=True)
    peak = tf.where(tf.math.is_finite(peak), peak, tf.zeros_like(peak))
    e = tf.where(kept, tf.exp(masked - peak), tf.zeros_like(masked))
    shape = tf.shape(e)
    flat = tf.reshape(e, [shape[0], shape[1], shape[2] * shape[3], shape[4]])
    numerators = tf.reshape(tf.matmul(flat, features), tf.concat([shape[:4], tf.shape(features)[3:]], axis=0))
    return e, tf.reduce_sum(e, axis=-1), numerators


def _inverse_norm(streams, numerators, squared, total):
    """`1 / (sqrt(M) ||alpha_m N_m / S_m + beta_m||)` of Eq. 4, `[B, S, Q, M]` (squared = `||N_m||^2`)."""
    alpha = streams.alpha[:, None, :]  # [S, 1, M]
    if streams.shifting_bias is None:
        shifted_squared = tf.square(tf.math.divide_no_nan(alpha, total)) * squared
    else:
        shifted = alpha[..., None] * tf.math.divide_no_nan(numerators, total[..., None])
        shifted = shifted + streams.shifting_bias[:, None, :, None] * streams.dims_mask[:, None, None, :]
        shifted_squared = tf.reduce_sum(tf.square(shifted), axis=-1)
    norm = tf.sqrt(tf.maximum(shifted_squared, _MIN_SQUARED_NORM))
    return 1.0 / (math.sqrt(int(streams.alpha.shape[-1])) * norm)


def prepare_streams(model, features, keep_mask) -> StackedStreams:
    """The stacked per-stream terms of a batch `[B, K, D]`, with the sums over its initial keep-mask."""
    dims = model.stream_dims
    width = max(dims)
    poolings = model.stream_poolings
    if len(set(dims)) == 1:
        shape = tf.shape(features)
        stacked = tf.transpose(tf.reshape(features, [shape[0], shape[1], len(dims), width]), [0, 2, 1, 3])
    else:
        stacked = tf.stack([_pad_last(x, width) for x in model.split_streams(features)], axis=1)
    # Every stream's logits `W H^T` in one batched product straight into the `[B, S, M, K]` layout.
    kernels = tf.stack([_pad_rows(_tensor(p.kernel), width) for p in poolings])  # [S, D, M]
    logits = tf.matmul(kernels[None], stacked, transpose_a=True, transpose_b=True)
    logits = logits + tf.stack([_tensor(p.position_bias) for p in poolings])[None]  # [B, S, M, K]
    class_rows = _tensor(model.classifier_head.kernel)  # [S * M * D, C], rows: stream, module, dim
    if len(set(dims)) > 1:
        padded = [_pad_last(tf.transpose(z, [2, 0, 1]), width) for z in model.module_class_kernels()]  # [C, M, D]
        class_rows = tf.transpose(tf.reshape(tf.stack(padded, axis=1), [model.num_classes, -1]))
    base = _exp_sums(logits, (keep_mask > 0)[:, None, :], stacked)
    shifting_bias = None
    if poolings[0].shifting_bias is not None:
        shifting_bias = tf.stack([_tensor(p.shifting_bias) for p in poolings])
    return StackedStreams(
        features=stacked,
        logits=logits,
        norms=tf.math.reduce_euclidean_norm(stacked, axis=-1),
        class_rows=class_rows,
        alpha=tf.stack([_tensor(p.alpha) for p in poolings]),
        shifting_bias=shifting_bias,
        dims_mask=tf.constant([[1.0] * d + [0.0] * (width - d) for d in dims], tf.float32),
        base=base,
    )


def video_class_scores_from_sums(model, streams: StackedStreams):
    """Eq. 5 softmax class scores from the sums over the initial keep-mask (dropout off)."""
    _, total, numerators = streams.base
    total, numerators = total[:, :, 0], numerators[:, :, 0]  # [B, S, M], [B, S, M, D]
    shifted = streams.alpha[..., None] * tf.math.divide_no_nan(numerators, total[..., None])
    if streams.shifting_bias is not None:
        shifted = shifted + streams.shifting_bias[..., None] * streams.dims_mask[:, None, :]
    norm = tf.sqrt(tf.maximum(tf.reduce_sum(tf.square(shifted), axis=-1), _MIN_SQUARED_NORM))
    outputs = shifted / (math.sqrt(model.num_modules) * norm)[..., None]  # [B, S, M, D]
    pooled = [
        tf.reshape(outputs[:, s, :, :dim], [-1, model.num_modules * dim]) for s, dim in enumerate(model.stream_dims)
    ]
    return tf.nn.softmax(model.classifier_head(tf.concat(pooled, axis=-1)), axis=-1)


def winners_out_select_incremental(
    model, streams: StackedStreams, class_indices, keep_mask, num_steps, segments_per_step, *, method="csc",
    stream_weights=None, check_finite=False, unroll_steps=False,
):
    """Algorithm 2 for `[B, Q]` (video, class) pairs with incremental steps; the selection of
    `winners_out_select(model.make_segment_scorer(features, class_indices, method, stream_weights), ...)`.

    Args:
        model: an `IWOClassifier` with attention pooling.
        streams: `prepare_streams(model, features, keep_mask)`.
        class_indices: `[B, Q]` int classes (Q static).
        keep_mask: `[B, K]` float, > 0 for usable segments.
        num_steps, segments_per_step: N_step and p (Python ints or int32 scalars).
        method: `"csc"` or `"attention"`.
        stream_weights: Eq. 10 fusion weights (None: 1 per stream).
        check_finite: fail with InvalidArgument when a remaining segment's score is NaN or Inf.
        unroll_steps: build the steps one after the other instead of a loop (`num_steps` a Python
            int): no per-iteration control ops, which pays at batch 1, for a larger graph that
            takes longer to trace.

    Returns:
        `WinnersOutSelection`.
    """
    num_streams = len(model.stream_dims)
    weights = tf.constant(stream_weight_values(stream_weights, num_streams), tf.float32)[None, :, None, None]  # [1, S, 1, 1]
    num_classes = int(class_indices.shape[1])
    num_segments = int(model.num_segments)
    num_modules = int(model.num_modules)
    csc = method == "csc"
    batch = tf.shape(keep_mask)[0]
    projection = None
    if csc:
        # The chosen classes' z rows by a one-hot product (exact: one 1 per row), which spares
        # rearranging every class's kernels as a gather would need.
        picks = tf.one_hot(tf.reshape(class_indices, [-1]), int(streams.class_rows.shape[-1]))
        kernels = tf.matmul(picks, streams.class_rows, transpose_b=True)  # [B * Q, S * M * D]
        width = int(streams.features.shape[-1])
        kernels = tf.reshape(kernels, [batch, num_classes, num_streams, num_modules, width])
        kernels = tf.reshape(tf.transpose(kernels, [0, 2, 1, 3, 4]), [batch, num_streams, num_classes * num_modules, width])
        projection = tf.matmul(kernels, streams.features, transpose_b=True)  # [B, S, Q * M, K]
        projection = tf.reshape(projection, [batch, num_streams, num_classes, num_modules, num_segments])

    def state_from(e, total, numerators):
        """`(e, e * P or e, S at the anchor, N, ||N||^2, error bound, e as [.., K, M])`; attention needs
        only the first three. The `[.., K, M]` copy makes a step's gather of its p segments' e rows
        of M values instead of single values."""
        if not csc:
            return (e, e, total)
        norm = tf.math.reduce_euclidean_norm(numerators, axis=-1)
        return (e, e * projection, total, numerators, tf.square(norm), norm, tf.linalg.matrix_transpose(e))

    shape = tf.stack([batch, num_classes, num_segments])
    remaining = tf.broadcast_to((keep_mask > 0)[:, None, :], shape)
    # Every pair starts from its video's keep-mask: the sums computed once per video, repeated.
    state = state_from(*(tf.repeat(t, num_classes, axis=2) for t in streams.base))
    take = tf.minimum(tf.cast(segments_per_step, tf.int32), num_segments)
    unrolled_steps = int(num_steps) if unroll_steps else 0  # before num_steps becomes a tensor
    num_steps = tf.cast(num_steps, tf.int32)

    def sums(state, remaining):
        # An element-wise product and a reduction: a batched matmul with one output column costs
        # more in per-call overhead than it saves.
        return tf.reduce_sum(state[0] * tf.cast(remaining, tf.float32)[:, None, :, None, :], axis=-1)  # [B, S, Q, M]

    def reanchored(remaining):
        state = state_from(*_exp_sums(streams.logits, remaining, streams.features))
        return state, sums(state, remaining)

    def kept(state, remaining):
        total = sums(state, remaining)
        live = tf.reduce_any(remaining, axis=-1)[:, None, :, None]
        lost = total < _UNDERFLOW_RATIO * state[2]
        if csc:
            lost = tf.logical_or(lost, state[4] < tf.square(_CANCELLATION_RATIO * state[5]))
        return tf.reduce_any(tf.logical_and(live, lost)), total

    def body(step, remaining, selection_step, selected_scores, finite, state):
        needed, total = kept(state, remaining)
        state, total = tf.cond(needed, lambda: reanchored(remaining), lambda: (state, total))
        if csc:
            coefficient = tf.math.divide_no_nan(
                streams.alpha[:, None, :] * _inverse_norm(streams, state[3], state[4], total), total
            )
        else:
            coefficient = tf.math.divide_no_nan(tf.ones_like(total) / num_modules, total)
        terms = tf.reduce_sum(coefficient[..., None] * state[1], axis=-2)  # [B, S, Q, K]
        if csc:
            terms = tf.nn.relu(terms)
        scores = tf.reduce_sum(weights * terms, axis=1)
        scores = tf.ensure_shape(tf.where(remaining, scores, tf.zeros_like(scores)), remaining.shape)
        if check_finite:
            finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(scores)))
        ranked = tf.where(tf.math.is_finite(scores), scores, tf.fill(tf.shape(scores), scores.dtype.min))
        ranked = tf.where(remaining, ranked, tf.fill(tf.shape(scores), -math.inf))
        top = tf.math.top_k(ranked, k=take, sorted=True).indices  # [B, Q, take]; ties: lower index first
        valid = tf.range(take)[None, None, :] < tf.reduce_sum(tf.cast(remaining, tf.int32), axis=-1, keepdims=True)
        # The chosen mask by one scatter of the B x Q x p picks (top-k indices are distinct per row).
        rows = tf.range(batch * num_classes)[:, None] * num_segments
        flat_top = tf.reshape(rows + tf.reshape(top, [-1, take]), [-1, 1])
        chosen = tf.scatter_nd(flat_top, tf.reshape(tf.cast(valid, tf.int32), [-1]), [batch * num_classes * num_segments])
        chosen = tf.ensure_shape(tf.reshape(chosen > 0, shape), remaining.shape)
        if csc:
            e, ep, anchor_total, numerators, _, bound, e_by_segment = state
            top_s = tf.broadcast_to(top[:, None], tf.stack([batch, num_streams, num_classes, take]))
            taken_e = tf.gather(e_by_segment, top_s, axis=3, batch_dims=3)  # [B, S, Q, take, M]
            taken_e = taken_e * tf.cast(valid, tf.float32)[:, None, :, :, None]
            taken_h = tf.gather(streams.features, top_s, axis=2, batch_dims=2)  # [B, S, Q, take, D]
            numerators = numerators - tf.matmul(taken_e, taken_h, transpose_a=True)
            taken_norms = tf.gather(streams.norms, top_s, axis=2, batch_dims=2)  # [B, S, Q, take]
            bound = bound + tf.reduce_sum(taken_e * taken_norms[..., None], axis=-2)
            squared = tf.square(tf.math.reduce_euclidean_norm(numerators, axis=-1))
            state = (e, ep, anchor_total, numerators, squared, bound, e_by_segment)
        selection_step = tf.where(chosen, step, selection_step)
        selected_scores = tf.where(chosen, scores, selected_scores)
        remaining = tf.logical_and(remaining, tf.logical_not(chosen))
        return step + 1, remaining, selection_step, selected_scores, finite, state

    initial = (tf.constant(0, tf.int32), remaining, tf.fill(shape, -1), tf.zeros(shape, tf.float32), tf.constant(True), state)
    if unroll_steps:
        loop_vars = initial
        for _ in range(unrolled_steps):
            loop_vars = body(*loop_vars)
        _, _, selection_step, selected_scores, finite, _ = loop_vars
    else:
        _, _, selection_step, selected_scores, finite, _ = tf.while_loop(
            lambda step, *_: step < num_steps, body, initial, parallel_iterations=1
        )
    if check_finite:
        assertion = tf.debugging.Assert(
            finite, ["winners-out: non-finite segment scores (feature values too large for float32?)"]
        )
        with tf.control_dependencies([assertion]):
            selected_scores = tf.identity(selected_scores)
    return WinnersOutSelection(selected=selection_step >= 0, selection_step=selection_step, scores=selected_scores)

"""Winners-out testing (Algorithm 2) with incremental steps: the detections of `localize` for a
fraction of the arithmetic.

Per stream, the attention numerators `e_mk = exp(w_m . h_k + b_mk - c_m)` (Eq. 3) and the CSC
projections `h_k . z_m^j` (Eq. 7) do not depend on which segments remain, so they are computed once
per video (and class). A step then needs, per (video, class), `S_m = sum_k e_mk` and
`N_m = sum_k e_mk h_k` over the remaining segments (the attention of Eq. 3 is `e_mk / S_m` and the
shifting scale of Eq. 4 is `alpha_m / (sqrt(M) ||alpha_m N_m / S_m + beta_m||)`): `S_m` is re-summed
(M x K multiply-adds) and `N_m` is updated by subtracting the p segments the step took
(p x M x D instead of K x M x D), and the Eq. 7 terms are one `[M] x [M, K]` product.

Exactness: the running difference `N_m - removed` carries a float32 rounding error proportional to
`||N_anchor|| + sum ||removed||`. When `||N_m||` falls below 1% of that (or `S_m` below 1e-30 of its
anchor value, i.e. exp underflow ahead), all pairs are re-anchored: `c_m` becomes the max over the
remaining segments and `S_m`, `N_m` are summed afresh, as the reference path does at every step.
Ties and non-finite scores rank as in `select_top_p`. Tests check it against `localize`.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence

import tensorflow as tf

from iwo_tf.model.shifted_group_attention import ShiftedGroupAttention
from iwo_tf.winners_out.localize import Localization, flatten_detections, localize
from iwo_tf.winners_out.proposals import proposals_from_selection, proposals_to_seconds, segment_boundaries_sec
from iwo_tf.winners_out.select import WinnersOutSelection

# ||N_m|| below this fraction of `||N_anchor|| + sum ||removed||` triggers an exact re-anchor: the
# float32 error of the running difference (eps ~6e-8 of that sum) then stays below ~1e-5 of ||N_m||.
_CANCELLATION_RATIO = 1e-2
# S_m below this fraction of its anchor value: re-anchor before exp() underflows.
_UNDERFLOW_RATIO = 1e-30
_MIN_SQUARED_NORM = 1e-24  # as in the attention layer


class StreamTerms(NamedTuple):
    """One stream's mask-independent tensors for a batch.

    Attributes:
        pooling: the stream's `ShiftedGroupAttention`.
        features: `[B, K, D]` segment features H.
        logits: `[B, M, K]` attention logits `W H^T + B` (Eq. 3).
        norms: `[B, K]` feature norms `||h_k||` (for the rounding-error bound).
        kernel: `[M, D, C]` the `z_m^j` of Eq. 7.
        base: `(e [B, 1, M, K], S [B, 1, M], N [B, 1, M, D])` over the initial keep-mask.
    """

    pooling: object
    features: tf.Tensor
    logits: tf.Tensor
    norms: tf.Tensor
    kernel: tf.Tensor
    base: tuple


def _exp_sums(logits, remaining, features):
    """Exact sums over `remaining` `[B, Q, K]`: `(e [B, Q, M, K], S [B, Q, M], N [B, Q, M, D])`."""
    kept = remaining[:, :, None, :]
    masked = tf.where(kept, logits[:, None], tf.constant(-math.inf, tf.float32))
    peak = tf.reduce_max(masked, axis=-1, keepdims=True)
    peak = tf.where(tf.math.is_finite(peak), peak, tf.zeros_like(peak))
    e = tf.where(kept, tf.exp(masked - peak), tf.zeros_like(masked))
    shape = tf.shape(e)
    numerators = tf.matmul(tf.reshape(e, [shape[0], shape[1] * shape[2], shape[3]]), features)  # [B, Q * M, D]
    numerators = tf.reshape(numerators, tf.concat([shape[:3], tf.shape(features)[2:]], axis=0))
    return e, tf.reduce_sum(e, axis=-1), numerators


def _inverse_norm(numerators, squared, total, pooling):
    """`1 / (sqrt(M) ||alpha_m N_m / S_m + beta_m||)` of Eq. 4, `[B, Q, M]` (squared = `||N_m||^2`)."""
    alpha = pooling.alpha
    if pooling.shifting_bias is None:
        factor = tf.math.divide_no_nan(alpha, total)
        shifted_squared = tf.square(factor) * squared
    else:
        shifted = alpha[:, None] * tf.math.divide_no_nan(numerators, total[..., None]) + pooling.shifting_bias[:, None]
        shifted_squared = tf.reduce_sum(tf.square(shifted), axis=-1)
    norm = tf.sqrt(tf.maximum(shifted_squared, _MIN_SQUARED_NORM))
    return 1.0 / (math.sqrt(pooling.num_modules) * norm)


def prepare_streams(model, features, keep_mask):
    """The per-stream terms of a batch `[B, K, D]`, with the sums over its initial keep-mask."""
    prepared = []
    remaining = (keep_mask > 0)[:, None, :]
    for pooling, stream, kernel in zip(model.stream_poolings, model.split_streams(features), model.module_class_kernels()):
        shape = tf.shape(stream)
        flat = tf.matmul(tf.reshape(stream, [-1, shape[2]]), pooling.kernel)  # [B * K, M]
        logits = tf.transpose(tf.reshape(flat, [shape[0], shape[1], pooling.num_modules]), [0, 2, 1]) + pooling.position_bias[None]
        base = _exp_sums(logits, remaining, stream)
        prepared.append(StreamTerms(pooling, stream, logits, tf.norm(stream, axis=-1), kernel, base))
    return prepared


def video_class_scores_from_sums(model, streams):
    """Eq. 5 softmax class scores from the sums over the initial keep-mask (dropout off)."""
    pooled = []
    for s in streams:
        _, total, numerators = s.base
        shifted = s.pooling.alpha[:, None] * tf.math.divide_no_nan(numerators, total[..., None])
        if s.pooling.shifting_bias is not None:
            shifted = shifted + s.pooling.shifting_bias[:, None]
        inverse = _inverse_norm(numerators, tf.reduce_sum(tf.square(numerators), -1), total, s.pooling)
        outputs = shifted * inverse[..., None]
        pooled.append(tf.reshape(outputs[:, 0], [-1, s.pooling.num_modules * s.pooling.feature_dim]))
    return tf.nn.softmax(model.classifier_head(tf.concat(pooled, axis=-1)), axis=-1)


def winners_out_select_incremental(
    model, streams, class_indices, keep_mask, num_steps, segments_per_step, *, method="csc", stream_weights=None,
    check_finite=False,
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

    Returns:
        `WinnersOutSelection`.
    """
    if stream_weights is None:
        stream_weights = (1.0,) * len(streams)
    num_classes = int(class_indices.shape[1])
    num_segments = int(model.num_segments)
    csc = method == "csc"
    projections = []
    for s in streams:
        if not csc:
            projections.append(None)
            continue
        class_kernels = tf.gather(tf.transpose(s.kernel, [2, 0, 1]), class_indices)  # [B, Q, M, D]
        rows = tf.reshape(class_kernels, [tf.shape(class_kernels)[0], num_classes * s.pooling.num_modules, s.pooling.feature_dim])
        projection = tf.matmul(rows, s.features, transpose_b=True)  # [B, Q * M, K]
        projections.append(tf.reshape(projection, [tf.shape(projection)[0], num_classes, s.pooling.num_modules, num_segments]))

    def state_from(e, total, numerators, projection):
        """`(e, e * P or e, S at the anchor, N, ||N||^2, error scale)` of one stream."""
        if projection is None:
            return (e, e, total)
        squared = tf.reduce_sum(tf.square(numerators), axis=-1)
        return (e, e * projection, total, numerators, squared, tf.sqrt(squared))

    batch = tf.shape(keep_mask)[0]
    shape = tf.stack([batch, num_classes, num_segments])
    remaining = tf.broadcast_to((keep_mask > 0)[:, None, :], shape)
    # Every pair starts from its video's keep-mask: the sums computed once per video, repeated.
    states = tuple(
        state_from(*(tf.repeat(t, num_classes, axis=1) for t in s.base), projection)
        for s, projection in zip(streams, projections)
    )
    take = tf.minimum(tf.cast(segments_per_step, tf.int32), num_segments)
    num_steps = tf.cast(num_steps, tf.int32)

    def reanchor(remaining):
        return tuple(
            state_from(*_exp_sums(s.logits, remaining, s.features), projection)
            for s, projection in zip(streams, projections)
        )

    def current_sums(remaining, states):
        mask = tf.cast(remaining, tf.float32)[..., None]  # [B, Q, K, 1]
        return [tf.matmul(state[0], mask)[..., 0] for state in states]  # S_m, [B, Q, M]

    def reanchor_needed(remaining, states, totals):
        live = tf.reduce_any(remaining, axis=-1)[..., None]
        needed = tf.constant(False)
        for state, total in zip(states, totals):
            lost = total < _UNDERFLOW_RATIO * state[2]
            if csc:
                lost = tf.logical_or(lost, tf.sqrt(state[4]) < _CANCELLATION_RATIO * state[5])
            needed = tf.logical_or(needed, tf.reduce_any(tf.logical_and(live, lost)))
        return needed

    def scores_of(remaining, states, totals):
        per_stream = []
        for state, total, s in zip(states, totals, streams):
            if csc:
                coefficient = tf.math.divide_no_nan(s.pooling.alpha * _inverse_norm(state[3], state[4], total, s.pooling), total)
            else:
                coefficient = tf.math.divide_no_nan(tf.ones_like(total) / s.pooling.num_modules, total)
            terms = tf.matmul(coefficient[:, :, None, :], state[1])[:, :, 0, :]  # [B, Q, K]
            terms = tf.where(remaining, terms, tf.zeros_like(terms))
            per_stream.append(tf.nn.relu(terms) if csc else terms)
        return tf.add_n([float(w) * x for w, x in zip(stream_weights, per_stream)])

    def body(step, remaining, selection_step, selected_scores, states):
        states = tf.cond(
            reanchor_needed(remaining, states, current_sums(remaining, states)),
            lambda: reanchor(remaining),
            lambda: states,
        )
        scores = tf.ensure_shape(scores_of(remaining, states, current_sums(remaining, states)), remaining.shape)
        if check_finite:
            finite = tf.reduce_all(tf.logical_or(tf.math.is_finite(scores), tf.logical_not(remaining)))
            assertion = tf.debugging.Assert(
                finite, ["winners-out: non-finite segment scores (feature values too large for float32?)"]
            )
            with tf.control_dependencies([assertion]):
                scores = tf.identity(scores)
        finite_scores = tf.where(tf.math.is_finite(scores), scores, tf.fill(tf.shape(scores), scores.dtype.min))
        ranked = tf.where(remaining, finite_scores, tf.fill(tf.shape(scores), -math.inf))
        top = tf.math.top_k(ranked, k=take, sorted=True).indices  # [B, Q, take]; ties: lower index first
        count = tf.reduce_sum(tf.cast(remaining, tf.int32), axis=-1, keepdims=True)
        valid = tf.range(take)[None, None, :] < count
        hits = tf.one_hot(top, num_segments, on_value=True, off_value=False, dtype=tf.bool)
        chosen = tf.reduce_any(tf.logical_and(hits, valid[..., None]), axis=2)
        if csc:
            updated = []
            for (e, ep, total, numerators, _, bound), s in zip(states, streams):
                taken_e = tf.gather(e, top, axis=3, batch_dims=2) * tf.cast(valid, tf.float32)[:, :, None, :]
                taken_h = tf.gather(s.features, top, batch_dims=1)  # [B, Q, take, D]
                numerators = numerators - tf.matmul(taken_e, taken_h)
                taken_norms = tf.gather(s.norms, top, batch_dims=1)[..., None]  # [B, Q, take, 1]
                bound = bound + tf.matmul(taken_e, taken_norms)[..., 0]
                updated.append((e, ep, total, numerators, tf.reduce_sum(tf.square(numerators), axis=-1), bound))
            states = tuple(updated)
        selection_step = tf.where(chosen, step, selection_step)
        selected_scores = tf.where(chosen, scores, selected_scores)
        remaining = tf.logical_and(remaining, tf.logical_not(chosen))
        return step + 1, remaining, selection_step, selected_scores, states

    _, _, selection_step, selected_scores, _ = tf.while_loop(
        lambda step, *_: step < num_steps,
        body,
        (tf.constant(0, tf.int32), remaining, tf.fill(shape, -1), tf.zeros(shape, tf.float32), states),
        parallel_iterations=1,
    )
    return WinnersOutSelection(selected=selection_step >= 0, selection_step=selection_step, scores=selected_scores)


def localize_incremental(
    model,
    features,
    *,
    num_snippets,
    snippet_stride_sec,
    snippet_offset_sec,
    duration,
    keep_mask=None,
    num_steps=10,
    top_q=2,
    segments_per_step=30,
    num_active_classes=None,
    method="csc",
    stream_weights: Sequence[float] | None = None,
    check_finite=False,
) -> Localization:
    """`localize` (same arguments, same detections) with incremental winners-out steps.

    Models whose pooling is not attention (the mean-pooling CAM baseline) take the reference path.
    `check_finite=True` fails with InvalidArgument on non-finite class or segment scores instead of
    ranking them last.

    Returns:
        `Localization`.
    """
    if not all(isinstance(p, ShiftedGroupAttention) for p in model.stream_poolings):
        return localize(
            model, features, num_snippets=num_snippets, snippet_stride_sec=snippet_stride_sec,
            snippet_offset_sec=snippet_offset_sec, duration=duration, keep_mask=keep_mask, num_steps=num_steps,
            top_q=top_q, segments_per_step=segments_per_step, num_active_classes=num_active_classes,
            method=method, stream_weights=stream_weights,
        )
    features = tf.convert_to_tensor(features, tf.float32)
    if keep_mask is None:
        keep_mask = tf.ones(tf.shape(features)[:2], tf.float32)
    else:
        keep_mask = tf.convert_to_tensor(keep_mask, tf.float32)
        # As the attention layer does: removed segments never reach any arithmetic.
        features = tf.where((keep_mask > 0)[..., None], features, 0.0)
    streams = prepare_streams(model, features, keep_mask)
    video_scores = video_class_scores_from_sums(model, streams)
    if check_finite:
        assertion = tf.debugging.Assert(
            tf.reduce_all(tf.math.is_finite(video_scores)),
            ["localize: non-finite class scores (feature values too large for float32?)"],
        )
        with tf.control_dependencies([assertion]):
            video_scores = tf.identity(video_scores)
    top_q = min(int(top_q), model.num_classes)
    class_indices = tf.math.top_k(video_scores, k=top_q, sorted=True).indices
    class_valid = tf.ones(tf.shape(class_indices), tf.bool)
    if num_active_classes is not None:
        class_valid = tf.broadcast_to(
            tf.range(top_q)[None, :] < tf.cast(num_active_classes, tf.int32), tf.shape(class_indices)
        )
    selection = winners_out_select_incremental(
        model, streams, class_indices, keep_mask, num_steps, segments_per_step,
        method=method, stream_weights=stream_weights, check_finite=check_finite,
    )
    proposals = proposals_from_selection(selection.selected, selection.scores)
    boundaries = segment_boundaries_sec(num_snippets, model.num_segments, snippet_stride_sec, snippet_offset_sec, duration)
    start_sec, end_sec = proposals_to_seconds(proposals, boundaries)
    detections = flatten_detections(class_indices, class_valid, proposals, start_sec, end_sec)
    return Localization(video_scores, class_indices, class_valid, selection, proposals, detections)

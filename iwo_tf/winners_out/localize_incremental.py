"""`localize` with incremental winners-out steps: classification, Algorithm 2 and Eq. 11 for a batch.

The serving signatures run this; tests hold it to the reference `iwo_tf.winners_out.localize`.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from iwo_tf.model.shifted_group_attention import ShiftedGroupAttention
from iwo_tf.winners_out.incremental import (
    prepare_streams,
    video_class_scores_from_sums,
    winners_out_select_incremental,
)
from iwo_tf.winners_out.localize import Localization, localization_from_selection, localize, top_classes


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
    unroll_steps=False,
) -> Localization:
    """`localize` (same arguments, same detections) with incremental winners-out steps.

    Models whose pooling is not attention (the mean-pooling CAM baseline) take the reference path.
    `check_finite=True` fails with InvalidArgument on non-finite class or segment scores instead of
    ranking them last. `unroll_steps=True` (with a Python int `num_steps`) builds the steps without
    a loop: faster for single videos, slower to trace.

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
    class_indices, class_valid = top_classes(video_scores, top_q, num_active_classes)
    selection = winners_out_select_incremental(
        model, streams, class_indices, keep_mask, num_steps, segments_per_step,
        method=method, stream_weights=stream_weights, check_finite=check_finite,
        unroll_steps=unroll_steps,
    )
    return localization_from_selection(
        model, video_scores, class_indices, class_valid, selection,
        num_snippets=num_snippets, snippet_stride_sec=snippet_stride_sec, snippet_offset_sec=snippet_offset_sec,
        duration=duration,
    )

"""Post-processing (Eq. 11): adjacent selected segments become scored proposals in seconds."""
from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf


class Proposals(NamedTuple):
    """Padded proposals per (video, class): `[B, Q, P]` with P = ceil(K / 2), time-ordered.

    Attributes:
        start_segment: int32 index of the first segment of the proposal.
        end_segment: int32 index of the last segment (inclusive).
        score: float32 mean score of its segments (Eq. 11).
        valid: bool, False on padding.
    """

    start_segment: tf.Tensor
    end_segment: tf.Tensor
    score: tf.Tensor
    valid: tf.Tensor


def proposals_from_selection(selected, segment_scores):
    """Joins adjacent selected segments into proposals scored by their mean score, Eq. 11.

    Args:
        selected: `[B, Q, K]` bool, the selected set F^j of each (video, class).
        segment_scores: `[B, Q, K]` float, each segment's score (the CSC score it had when selected).

    Returns:
        `Proposals` of shape `[B, Q, ceil(K / 2)]`: a run of selected segments needs a gap after it,
        so no more than ceil(K / 2) runs fit in K segments.
    """
    selected = tf.convert_to_tensor(selected, tf.bool)
    segment_scores = tf.cast(segment_scores, tf.float32)
    num_segments = selected.shape[-1]
    max_proposals = (num_segments + 1) // 2
    shape = tf.shape(selected)
    rows = shape[0] * shape[1]
    flat_selected = tf.reshape(selected, [rows, num_segments])
    flat_scores = tf.reshape(segment_scores, [rows, num_segments])

    previous = tf.pad(flat_selected[:, :-1], [[0, 0], [1, 0]])
    starts = tf.logical_and(flat_selected, tf.logical_not(previous))
    run_index = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1
    row_offset = tf.range(rows)[:, None] * max_proposals
    dump = rows * max_proposals  # one extra bucket collects every unselected segment
    bucket = tf.where(flat_selected, row_offset + run_index, dump)
    num_buckets = dump + 1
    positions = tf.broadcast_to(tf.range(num_segments)[None, :], [rows, num_segments])

    ones = tf.cast(flat_selected, tf.float32)
    counts = tf.math.unsorted_segment_sum(tf.reshape(ones, [-1]), tf.reshape(bucket, [-1]), num_buckets)
    sums = tf.math.unsorted_segment_sum(tf.reshape(flat_scores * ones, [-1]), tf.reshape(bucket, [-1]), num_buckets)
    first = tf.math.unsorted_segment_min(tf.reshape(positions, [-1]), tf.reshape(bucket, [-1]), num_buckets)
    last = tf.math.unsorted_segment_max(tf.reshape(positions, [-1]), tf.reshape(bucket, [-1]), num_buckets)

    out_shape = tf.concat([shape[:2], [max_proposals]], axis=0)
    counts = tf.reshape(counts[:dump], out_shape)
    valid = counts > 0
    return Proposals(
        start_segment=tf.where(valid, tf.reshape(first[:dump], out_shape), 0),
        end_segment=tf.where(valid, tf.reshape(last[:dump], out_shape), 0),
        score=tf.math.divide_no_nan(tf.reshape(sums[:dump], out_shape), counts),
        valid=valid,
    )


def segment_boundaries_sec(num_snippets, num_segments, snippet_stride_sec, snippet_offset_sec, duration):
    """The time in seconds of each segment boundary, `[B, K + 1]`.

    Segment k covers snippets `[k T / K, (k + 1) T / K)`, and snippet i spans
    `[offset + i * stride, offset + (i + 1) * stride)`, so boundary k is `offset + k T / K * stride`.
    Without a snippet stride (<= 0) the video's duration is split evenly instead. Times are clipped
    to `[0, duration]` when the duration is known (> 0).

    Args:
        num_snippets: `[B]` T of each video.
        num_segments: K (Python int).
        snippet_stride_sec: `[B]` seconds between snippets.
        snippet_offset_sec: `[B]` start time of the first snippet.
        duration: `[B]` video duration in seconds.

    Returns:
        `[B, K + 1]` float32 boundary times.
    """
    num_snippets = tf.cast(num_snippets, tf.float32)[:, None]
    stride = tf.cast(snippet_stride_sec, tf.float32)[:, None]
    offset = tf.cast(snippet_offset_sec, tf.float32)[:, None]
    duration = tf.cast(duration, tf.float32)[:, None]
    fraction = tf.range(num_segments + 1, dtype=tf.float32)[None, :] / float(num_segments)
    from_snippets = offset + fraction * num_snippets * stride
    boundaries = tf.where(stride > 0, from_snippets, fraction * duration)
    return tf.where(duration > 0, tf.clip_by_value(boundaries, 0.0, duration), tf.maximum(boundaries, 0.0))


def proposals_to_seconds(proposals: Proposals, boundaries):
    """Start and end seconds `[B, Q, P]` of each proposal, given `[B, K + 1]` segment boundaries."""
    flat_start = tf.reshape(proposals.start_segment, [tf.shape(boundaries)[0], -1])
    flat_end = tf.reshape(proposals.end_segment + 1, [tf.shape(boundaries)[0], -1])
    start = tf.reshape(tf.gather(boundaries, flat_start, batch_dims=1), tf.shape(proposals.start_segment))
    end = tf.reshape(tf.gather(boundaries, flat_end, batch_dims=1), tf.shape(proposals.end_segment))
    return start, end

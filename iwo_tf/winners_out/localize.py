"""Winners-out localization end to end: class scores -> top-q classes -> Algorithm 2 -> Eq. 11.

`localize` is the one implementation of inference: the trainer's evaluation and the exported
SavedModel signatures both call it, so they compute the same detections by construction.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from iwo_tf.winners_out.proposals import (
    Proposals,
    proposals_from_selection,
    proposals_to_seconds,
    segment_boundaries_sec,
)
from iwo_tf.winners_out.select import WinnersOutSelection, winners_out_select


class Detections(NamedTuple):
    """Fixed-size detections per video, best first; entries past `num_valid` are padding.

    Attributes:
        class_index: `[B, N]` int32.
        score: `[B, N]` float32 proposal score (Eq. 11); 0 on padding.
        start_sec: `[B, N]` float32.
        end_sec: `[B, N]` float32.
        num_valid: `[B]` int32.
    """

    class_index: tf.Tensor
    score: tf.Tensor
    start_sec: tf.Tensor
    end_sec: tf.Tensor
    num_valid: tf.Tensor


class Localization(NamedTuple):
    """Everything `localize` computed, for inspection and plots."""

    video_scores: tf.Tensor  # [B, C] softmax class scores
    class_indices: tf.Tensor  # [B, Q] the top-q classes
    class_valid: tf.Tensor  # [B, Q] bool
    selection: WinnersOutSelection
    proposals: Proposals
    detections: Detections


def flatten_detections(class_indices, class_valid, proposals: Proposals, start_sec, end_sec) -> Detections:
    """Gathers the `[B, Q, P]` proposals of all classes into `[B, Q * P]` detections sorted by score."""
    batch = tf.shape(class_indices)[0]
    valid = tf.logical_and(proposals.valid, class_valid[:, :, None])
    per_class = tf.broadcast_to(class_indices[:, :, None], tf.shape(proposals.start_segment))

    def flat(x):
        return tf.reshape(x, [batch, -1])

    valid_flat = flat(valid)
    ranking = tf.where(valid_flat, flat(proposals.score), tf.fill(tf.shape(valid_flat), float("-inf")))
    order = tf.argsort(ranking, axis=-1, direction="DESCENDING", stable=True)

    def take(x):
        return tf.gather(flat(x), order, batch_dims=1)

    kept = take(valid)
    return Detections(
        class_index=tf.where(kept, tf.cast(take(per_class), tf.int32), 0),
        score=tf.where(kept, take(proposals.score), 0.0),
        start_sec=tf.where(kept, take(start_sec), 0.0),
        end_sec=tf.where(kept, take(end_sec), 0.0),
        num_valid=tf.reduce_sum(tf.cast(kept, tf.int32), axis=-1),
    )


def localize(
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
) -> Localization:
    """Winners-out testing (Algorithm 2) and post-processing (Eq. 11) for a batch of videos.

    Args:
        model: an `IWOClassifier`.
        features: `[B, K, D]` segment features (already resampled to K segments).
        num_snippets, snippet_stride_sec, snippet_offset_sec, duration: `[B]` timing of each video,
            used to convert segment indices to seconds (see `segment_boundaries_sec`).
        keep_mask: optional `[B, K]` float mask of usable segments (None: all).
        num_steps: winners-out steps N_step (1 = single-step "regular" testing).
        top_q: q, the number of predicted classes localized per video (static: sets output shapes).
        segments_per_step: p.
        num_active_classes: optional scalar int tensor <= top_q: only that many of the top-q classes
            produce detections (lets a serving signature take q as an input with static shapes).
        method: `"csc"` or `"attention"` segment scores.
        stream_weights: the Eq. 10 fusion weights, e.g. `(1.0, gamma)`.

    Returns:
        `Localization`.
    """
    features = tf.convert_to_tensor(features, tf.float32)
    if keep_mask is None:
        keep_mask = tf.ones(tf.shape(features)[:2], tf.float32)
    video_scores = model.video_class_scores(features, keep_mask)
    class_indices, class_valid = top_classes(video_scores, top_q, num_active_classes)
    scorer = model.make_segment_scorer(features, class_indices, method=method, stream_weights=stream_weights)
    selection = winners_out_select(scorer, keep_mask, int(class_indices.shape[1]), num_steps, segments_per_step)
    return localization_from_selection(
        model, video_scores, class_indices, class_valid, selection,
        num_snippets=num_snippets, snippet_stride_sec=snippet_stride_sec, snippet_offset_sec=snippet_offset_sec,
        duration=duration,
    )


def top_classes(video_scores, top_q, num_active_classes=None):
    """The q best classes of each video `[B, q]` (q = min(top_q, C), static) and which of them produce
    detections (`[B, q]` bool: the first `num_active_classes`, all when None)."""
    top_q = min(int(top_q), int(video_scores.shape[-1]))
    class_indices = tf.math.top_k(video_scores, k=top_q, sorted=True).indices
    class_valid = tf.ones(tf.shape(class_indices), tf.bool)
    if num_active_classes is not None:
        class_valid = tf.range(top_q)[None, :] < tf.cast(num_active_classes, tf.int32)
        class_valid = tf.broadcast_to(class_valid, tf.shape(class_indices))
    return class_indices, class_valid


def localization_from_selection(
    model, video_scores, class_indices, class_valid, selection, *, num_snippets, snippet_stride_sec,
    snippet_offset_sec, duration,
) -> Localization:
    """Eq. 11 and the conversion to seconds after Algorithm 2: the `Localization` of a selection."""
    proposals = proposals_from_selection(selection.selected, selection.scores)
    boundaries = segment_boundaries_sec(
        num_snippets, model.num_segments, snippet_stride_sec, snippet_offset_sec, duration
    )
    start_sec, end_sec = proposals_to_seconds(proposals, boundaries)
    detections = flatten_detections(class_indices, class_valid, proposals, start_sec, end_sec)
    return Localization(video_scores, class_indices, class_valid, selection, proposals, detections)


def detections_to_results(
    video_ids: Sequence[str], detections: Detections | Mapping[str, np.ndarray], class_names: Sequence[str]
) -> dict:
    """Converts batched detections to the ActivityNet results mapping `{video: [{label, score, segment}]}`."""
    get = detections._asdict() if isinstance(detections, Detections) else detections
    arrays = {k: np.asarray(v) for k, v in get.items()}
    results = {}
    for row, video_id in enumerate(video_ids):
        video_id = video_id.decode() if isinstance(video_id, bytes) else str(video_id)
        entries = results.setdefault(video_id, [])
        for n in range(int(arrays["num_valid"][row])):
            entries.append(
                {
                    "label": class_names[int(arrays["class_index"][row, n])],
                    "score": float(arrays["score"][row, n]),
                    "segment": [float(arrays["start_sec"][row, n]), float(arrays["end_sec"][row, n])],
                }
            )
    return results

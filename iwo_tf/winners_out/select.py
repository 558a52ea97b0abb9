"""Winners-out selection: the removal step of Algorithm 1 and the loop of Algorithm 2.

Everything here is plain TensorFlow with static shapes and an explicit `tf.while_loop`, so the same
code runs eagerly, inside `tf.function`, and inside the exported SavedModel signatures.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf

Scorer = Callable[[tf.Tensor], tf.Tensor]


class WinnersOutSelection(NamedTuple):
    """The outcome of winners-out testing for `[B, Q]` (video, class) pairs over K segments.

    Attributes:
        selected: `[B, Q, K]` bool, the union F^j of the segments selected at any step.
        selection_step: `[B, Q, K]` int32, the 0-based step that selected the segment, -1 if never.
        scores: `[B, Q, K]` float, the score a segment had at the step that selected it (0 if never).
    """

    selected: tf.Tensor
    selection_step: tf.Tensor
    scores: tf.Tensor


def select_top_p(scores, remaining, segments_per_step):
    """Picks the `min(p, remaining)` highest-scoring remaining segments of each row.

    Ties go to the earlier segment, so the choice is deterministic.

    Args:
        scores: `[..., K]` segment scores.
        remaining: `[..., K]` bool, the segments still eligible.
        segments_per_step: p, a Python int or scalar int tensor (>= 0).

    Returns:
        `[..., K]` bool, the chosen segments (a subset of `remaining`).
    """
    scores = tf.convert_to_tensor(scores)
    # Non-finite scores on eligible segments still rank (last), so exactly min(p, remaining) are chosen.
    finite = tf.where(tf.math.is_finite(scores), scores, tf.fill(tf.shape(scores), scores.dtype.min))
    ranked = tf.where(remaining, finite, tf.fill(tf.shape(scores), float("-inf")))
    order = tf.argsort(ranked, axis=-1, direction="DESCENDING", stable=True)
    rank = tf.argsort(order, axis=-1, stable=True)
    count = tf.reduce_sum(tf.cast(remaining, tf.int32), axis=-1, keepdims=True)
    take = tf.minimum(tf.cast(segments_per_step, tf.int32), count)
    return tf.logical_and(rank < take, remaining)


def remove_winners(scorer: Scorer, keep_mask, class_valid, segments_per_step):
    """One removal step of winners-out training (Algorithm 1, lines 3-10).

    For every label j of a video, score the video's remaining segments for j, take the top-p, and
    remove the union over its labels from the video's segment set.

    Args:
        scorer: maps a `[B, K]` keep-mask to `[B, Q, K]` scores for the video's Q (padded) labels,
            e.g. `IWOClassifier.make_segment_scorer(features, class_indices)`.
        keep_mask: `[B, K]` float, > 0 for segments still in the video's set.
        class_valid: `[B, Q]` bool, False on label padding.
        segments_per_step: p.

    Returns:
        `[B, K]` float keep-mask after the removal.
    """
    keep_mask = tf.convert_to_tensor(keep_mask, tf.float32)
    scores = scorer(keep_mask)
    remaining = tf.logical_and(keep_mask[:, None, :] > 0, class_valid[:, :, None])
    chosen = select_top_p(scores, remaining, segments_per_step)
    removed = tf.reduce_any(chosen, axis=1)
    return tf.where(removed, tf.zeros_like(keep_mask), keep_mask)


def winners_out_select(scorer: Scorer, keep_mask, num_classes_per_video, num_steps, segments_per_step):
    """Winners-out testing, the loop of Algorithm 2, batched over videos and classes.

    Each (video, class) pair starts from the video's keep-mask; at every step the scorer recomputes
    the scores on that pair's remaining segments (attention is renormalised over them), the top-p are
    moved into the selected set F^j and removed. Runs `num_steps` steps (the paper's "10 steps").

    Args:
        scorer: maps a `[B, Q, K]` keep-mask to `[B, Q, K]` scores.
        keep_mask: `[B, K]` float, the segments available at the start (usually all ones).
        num_classes_per_video: Q, a Python int (static shape).
        num_steps: number of selection steps, Python int or scalar int tensor.
        segments_per_step: p, Python int or scalar int tensor.

    Returns:
        `WinnersOutSelection`.
    """
    keep_mask = tf.convert_to_tensor(keep_mask, tf.float32)
    shape = tf.concat([tf.shape(keep_mask)[:1], [num_classes_per_video], tf.shape(keep_mask)[1:]], axis=0)
    remaining = tf.broadcast_to(keep_mask[:, None, :] > 0, shape)
    selection_step = tf.fill(shape, tf.constant(-1, tf.int32))
    selected_scores = tf.zeros(shape, tf.float32)
    num_steps = tf.cast(num_steps, tf.int32)

    def body(step, remaining, selection_step, selected_scores):
        # A scorer may lose static dims (einsum with an unknown batch and Q = 1 does); the loop
        # variables must keep theirs, so pin the scores to the mask's shape.
        scores = tf.ensure_shape(scorer(tf.cast(remaining, tf.float32)), remaining.shape)
        chosen = select_top_p(scores, remaining, segments_per_step)
        selection_step = tf.where(chosen, step, selection_step)
        selected_scores = tf.where(chosen, tf.cast(scores, tf.float32), selected_scores)
        return step + 1, tf.logical_and(remaining, tf.logical_not(chosen)), selection_step, selected_scores

    _, _, selection_step, selected_scores = tf.while_loop(
        lambda step, *_: step < num_steps,
        body,
        (tf.constant(0, tf.int32), remaining, selection_step, selected_scores),
        parallel_iterations=1,
    )
    return WinnersOutSelection(
        selected=selection_step >= 0, selection_step=selection_step, scores=selected_scores
    )

"""Algorithms 1 and 2: selection invariants, graph mode equals eager, removal of a video's own labels."""
import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.model import IWOClassifier
from iwo_tf.winners_out import remove_winners, select_top_p, winners_out_select

K = 20


def _random_scorer(seed):
    """A scorer whose scores depend on the remaining mask (like CSC with renormalised attention)."""
    base = tf.constant(np.random.default_rng(seed).random((3, 2, K)), tf.float32)

    def score(mask):
        renorm = tf.reduce_sum(mask, axis=-1, keepdims=True) + 1.0
        return base * mask / renorm + 0.01 * base

    return score


def test_select_top_p_takes_min_p_remaining_with_ties_to_the_earlier_segment():
    scores = tf.constant([[0.5, 0.9, 0.9, 0.1, 0.9]])
    remaining = tf.constant([[True, True, True, True, False]])
    chosen = select_top_p(scores, remaining, 2).numpy()
    np.testing.assert_array_equal(chosen, [[False, True, True, False, False]])
    assert select_top_p(scores, remaining, 10).numpy().sum() == 4
    assert select_top_p(scores, tf.zeros_like(remaining), 3).numpy().sum() == 0
    nan_scores = tf.constant([[np.nan, 0.2, np.inf, -np.inf, 0.1]])
    assert select_top_p(nan_scores, remaining, 4).numpy().sum() == 4


@pytest.mark.parametrize("p, steps", [(3, 4), (7, 5), (1, 1), (25, 2)])
def test_no_segment_twice_and_exactly_min_p_remaining_per_step(p, steps):
    keep = np.ones((3, K), "float32")
    keep[1, :5] = 0
    keep[2, :] = 0
    keep[2, 3] = 1
    out = winners_out_select(_random_scorer(0), keep, 2, steps, p)
    step = out.selection_step.numpy()
    for b in range(3):
        for q in range(2):
            remaining = int(keep[b].sum())
            for t in range(steps):
                count = int((step[b, q] == t).sum())
                assert count == min(p, remaining)
                remaining -= count
    assert np.all(step[np.broadcast_to(keep[:, None, :] == 0, step.shape)] == -1)  # removed never selected
    np.testing.assert_array_equal(out.selected.numpy(), step >= 0)
    assert np.all(out.scores.numpy()[step < 0] == 0)


def test_graph_mode_equals_eager_and_dynamic_p_and_steps():
    keep = np.ones((3, K), "float32")
    eager = winners_out_select(_random_scorer(1), keep, 2, 4, 3)
    graph_fn = tf.function(
        lambda p, steps: winners_out_select(_random_scorer(1), keep, 2, steps, p),
        input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)],
    )
    graph = graph_fn(tf.constant(3), tf.constant(4))
    for a, b in zip(eager, graph):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_selection_follows_the_highest_scores_each_step():
    scores = np.arange(K, dtype="float32")[None, None, :].repeat(1, 0)
    out = winners_out_select(lambda mask: tf.constant(scores) * mask, np.ones((1, K), "float32"), 1, 3, 2)
    step = out.selection_step.numpy()[0, 0]
    assert set(np.where(step == 0)[0]) == {19, 18}
    assert set(np.where(step == 1)[0]) == {17, 16}
    np.testing.assert_array_equal(out.scores.numpy()[0, 0][[19, 18, 17]], [19, 18, 17])


def test_remove_winners_removes_union_of_top_p_for_each_own_label_only():
    model = IWOClassifier(4, num_segments=K, stream_dims=(5,), num_modules=2)
    model.build()
    features = np.random.default_rng(0).normal(size=(2, K, 5)).astype("float32")
    keep = np.ones((2, K), "float32")
    keep[0, :3] = 0
    labels = np.array([[1, 3], [2, 0]], "int32")
    valid = np.array([[True, True], [True, False]])
    scorer = model.make_segment_scorer(features, labels)
    new_keep = remove_winners(scorer, keep, valid, 4).numpy()
    scores = scorer(keep).numpy()
    for b in range(2):
        expected = keep[b].copy()
        for q in range(2):
            if valid[b, q]:
                ranked = np.where(keep[b] > 0, scores[b, q], -np.inf)
                top = np.argsort(-ranked, kind="stable")[:4]
                expected[top] = 0
        np.testing.assert_array_equal(new_keep[b], expected)
    assert np.all(new_keep <= keep)
    assert 4 <= (keep - new_keep)[0].sum() <= 8 and (keep - new_keep)[1].sum() == 4

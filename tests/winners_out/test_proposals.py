"""Eq. 11 post-processing and the end-to-end `localize` (graph equals eager, seconds, padding)."""
import numpy as np
import tensorflow as tf

from iwo_tf.model import IWOClassifier
from iwo_tf.winners_out import detections_to_results, localize, proposals_from_selection, segment_boundaries_sec


def _runs(selected, scores):
    """Reference: maximal runs of True with their mean score."""
    runs, k = [], 0
    while k < len(selected):
        if selected[k]:
            start = k
            while k + 1 < len(selected) and selected[k + 1]:
                k += 1
            runs.append((start, k, float(np.mean(scores[start: k + 1]))))
        k += 1
    return runs


def test_proposals_match_reference_runs():
    rng = np.random.default_rng(0)
    for k in (1, 2, 7, 20):
        selected = rng.random((3, 2, k)) > 0.5
        selected[0, 0] = True
        selected[0, 1] = False
        scores = rng.random((3, 2, k)).astype("float32")
        props = proposals_from_selection(selected, scores)
        assert props.start_segment.shape[-1] == (k + 1) // 2
        for b in range(3):
            for q in range(2):
                valid = props.valid.numpy()[b, q]
                got = list(zip(props.start_segment.numpy()[b, q][valid], props.end_segment.numpy()[b, q][valid],
                               props.score.numpy()[b, q][valid]))
                expected = _runs(selected[b, q], scores[b, q])
                assert len(got) == len(expected)
                for (s, e, sc), (s2, e2, sc2) in zip(got, expected):
                    assert (s, e) == (s2, e2)
                    np.testing.assert_allclose(sc, sc2, rtol=1e-6)


def test_segment_boundaries_from_snippet_rate_and_from_duration():
    b = segment_boundaries_sec([100, 10], 4, [0.64, 0.0], [0.0, 0.0], [64.0, 8.0]).numpy()
    np.testing.assert_allclose(b[0], [0, 16, 32, 48, 64], atol=1e-5)
    np.testing.assert_allclose(b[1], [0, 2, 4, 6, 8], atol=1e-5)
    clipped = segment_boundaries_sec([100], 2, [1.0], [0.5], [60.0]).numpy()
    np.testing.assert_allclose(clipped[0], [0.5, 50.5, 60.0], atol=1e-5)


def _localize_kwargs(batch):
    return dict(
        num_snippets=tf.constant([400, 30, 5][:batch]),
        snippet_stride_sec=tf.constant([0.64] * batch),
        snippet_offset_sec=tf.zeros(batch),
        duration=tf.constant([256.0, 19.2, 3.2][:batch]),
    )


def test_localize_graph_equals_eager_and_detections_are_consistent():
    model = IWOClassifier(5, num_segments=24, stream_dims=(6, 4), num_modules=3)
    model.build()
    features = np.random.default_rng(0).normal(size=(3, 24, 10)).astype("float32")
    kwargs = dict(_localize_kwargs(3), num_steps=3, top_q=2, segments_per_step=4, stream_weights=(1.0, 10.0))
    eager = localize(model, features, **kwargs)
    graph = tf.function(lambda x: localize(model, x, **kwargs))(features)
    for a, b in zip(eager.detections, graph.detections):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    det = eager.detections
    num_valid = det.num_valid.numpy()
    assert np.all(num_valid >= 1)
    for b in range(3):
        n = num_valid[b]
        scores = det.score.numpy()[b]
        assert np.all(np.diff(scores[:n]) <= 0)  # best first
        assert np.all(scores[n:] == 0)
        assert set(det.class_index.numpy()[b, :n]) <= set(eager.class_indices.numpy()[b])
        assert np.all(det.end_sec.numpy()[b, :n] > det.start_sec.numpy()[b, :n])
        assert np.all(det.end_sec.numpy()[b, :n] <= [256.0, 19.2, 3.2][b] + 1e-4)
    # 3 steps x 4 segments per class: 12 selected segments per (video, class).
    assert np.all(eager.selection.selected.numpy().sum(-1) == 12)
    results = detections_to_results([b"v0", "v1", "v2"], det, ["a", "b", "c", "d", "e"])
    assert len(results["v0"]) == num_valid[0]
    assert set(results["v1"][0]) == {"label", "score", "segment"}


def test_num_active_classes_limits_detections_to_the_first_classes():
    model = IWOClassifier(5, num_segments=24, stream_dims=(6, 4), num_modules=3)
    model.build()
    features = np.random.default_rng(1).normal(size=(2, 24, 10)).astype("float32")
    out = localize(model, features, **_localize_kwargs(2), num_steps=2, top_q=3, segments_per_step=3,
                   num_active_classes=tf.constant(1))
    det = out.detections
    for b in range(2):
        assert set(det.class_index.numpy()[b, : det.num_valid.numpy()[b]]) == {out.class_indices.numpy()[b, 0]}

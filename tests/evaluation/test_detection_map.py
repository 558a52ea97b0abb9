"""Hand-computed detection AP on small cases, and the official evaluator's edge behaviours."""

import numpy as np
import pytest

from iwo_tf.evaluation import (
    ACTIVITYNET_TIOU_THRESHOLDS,
    THUMOS14_TIOU_THRESHOLDS,
    ResultsFormatError,
    compute_detection_map,
    interpolated_average_precision,
    segment_iou,
)


def gt_doc(videos, subset="test"):
    """videos: {video: [(label, start, end)]} -> ActivityNet ground truth."""
    return {
        "database": {
            v: {"subset": subset, "annotations": [{"label": l, "segment": [s, e]} for l, s, e in anns]}
            for v, anns in videos.items()
        }
    }


def det_doc(videos):
    """videos: {video: [(label, score, start, end)]} -> ActivityNet results."""
    return {
        "results": {v: [{"label": l, "score": sc, "segment": [s, e]} for l, sc, s, e in dets] for v, dets in videos.items()}
    }


def ap_of(gt, det, thresholds=(0.5,), subset="test", **kw):
    return compute_detection_map(gt, det, subset=subset, tiou_thresholds=thresholds, **kw)


def test_segment_iou_matches_formula():
    iou = segment_iou(np.array([[4.0, 14.0], [0.0, 9.0]]), np.array([[0.0, 10.0], [5.0, 15.0], [20.0, 30.0]]))
    np.testing.assert_allclose(iou, [[6 / 14, 9 / 11, 0.0], [9 / 10, 4 / 15, 0.0]])


def test_interpolated_ap_voc():
    # precision [1, .5, 2/3], recall [.5, .5, 1] -> .5 * 1 + .5 * 2/3
    assert interpolated_average_precision([1, 0.5, 2 / 3], [0.5, 0.5, 1.0]) == pytest.approx(0.5 + 1 / 3)
    assert interpolated_average_precision([], []) == 0.0


def test_perfect_predictions_ap_one():
    gt = gt_doc({"a": [("X", 0, 10), ("X", 20, 30), ("Y", 40, 45)], "b": [("Y", 1, 2)]})
    det = det_doc({"a": [("X", 0.9, 0, 10), ("X", 0.8, 20, 30), ("Y", 0.7, 40, 45)], "b": [("Y", 0.6, 1, 2)]})
    result = ap_of(gt, det, THUMOS14_TIOU_THRESHOLDS)
    np.testing.assert_array_equal(result.mAP, np.ones(7))
    assert result.average_mAP == 1.0
    assert result.class_names == ("X", "Y")
    assert result.ap_per_class.shape == (2, 7)


def test_tied_scores_visited_in_reverse_file_order():
    # official argsort()[::-1]: among equal scores the later entry comes first
    gt = gt_doc({"a": [("X", 0, 10)]})
    fp_first_in_file = det_doc({"a": [("X", 0.5, 50, 60), ("X", 0.5, 0, 10)]})
    tp_first_in_file = det_doc({"a": [("X", 0.5, 0, 10), ("X", 0.5, 50, 60)]})
    # visited TP then FP: precision [1, .5], recall [1, 1] -> 1
    assert ap_of(gt, fp_first_in_file).mAP[0] == pytest.approx(1.0)
    # visited FP then TP: precision [0, .5], recall [0, 1] -> .5
    assert ap_of(gt, tp_first_in_file).mAP[0] == pytest.approx(0.5)


def test_class_without_predictions_counts_as_zero():
    gt = gt_doc({"a": [("X", 0, 10), ("Y", 20, 30)]})
    det = det_doc({"a": [("X", 0.9, 0, 10)]})
    result = ap_of(gt, det, (0.1, 0.5))
    np.testing.assert_allclose(result.ap_per_class, [[1, 1], [0, 0]])
    np.testing.assert_allclose(result.mAP, [0.5, 0.5])
    assert result.classes_without_predictions == ("Y",)


def test_predictions_for_videos_without_ground_truth_are_false_positives():
    gt = gt_doc({"a": [("X", 0, 10)]})
    det = det_doc({"a": [("X", 0.9, 0, 10)], "ghost": [("X", 0.95, 0, 10)]})
    result = ap_of(gt, det)
    # FP then TP: precision [0, .5], recall [0, 1] -> .5
    assert result.mAP[0] == pytest.approx(0.5)
    assert result.prediction_videos_without_ground_truth == ("ghost",)
    assert result.to_json_dict()["num_prediction_videos_without_ground_truth"] == 1


def test_prediction_in_video_without_that_class_is_false_positive():
    gt = gt_doc({"a": [("X", 0, 10)], "b": [("Y", 0, 10)]})
    det = det_doc({"b": [("X", 0.9, 0, 10)], "a": [("X", 0.8, 0, 10)], })
    result = ap_of(gt, det)
    assert result.ap_per_class[0, 0] == pytest.approx(0.5)
    assert result.prediction_videos_without_ground_truth == ()


def test_duplicate_detection_is_false_positive():
    gt = gt_doc({"a": [("X", 0, 10), ("X", 20, 30)]})
    det = det_doc({"a": [("X", 0.9, 0, 10), ("X", 0.8, 0, 10), ("X", 0.7, 20, 30)]})
    # TP, FP, TP: precision [1, .5, 2/3], recall [.5, .5, 1] -> .5 + .5 * 2/3
    assert ap_of(gt, det).mAP[0] == pytest.approx(0.5 + 1 / 3)


def test_greedy_match_to_highest_tiou_unlocked_ground_truth():
    gt = gt_doc({"a": [("X", 0, 10), ("X", 5, 15)]})
    # d1 [4, 14]: tIoU 6/14 with G1, 9/11 with G2 -> takes G2 (both qualify at 0.3).
    # d2 [5, 15]: G2 (tIoU 1) is locked -> G1 with tIoU 5/15 = 0.333: TP at 0.3, FP at 0.5.
    det = det_doc({"a": [("X", 0.9, 4, 14), ("X", 0.8, 5, 15)]})
    result = ap_of(gt, det, (0.3, 0.5))
    np.testing.assert_allclose(result.mAP, [1.0, 0.5])
    # if d1 had taken G1, d2 would match G2 at every threshold
    det2 = det_doc({"a": [("X", 0.9, 0, 9), ("X", 0.8, 5, 15)]})
    np.testing.assert_allclose(ap_of(gt, det2, (0.3, 0.5)).mAP, [1.0, 1.0])


def test_below_threshold_is_false_positive_and_boundary_is_inclusive():
    gt = gt_doc({"a": [("X", 0, 10)]})
    det = det_doc({"a": [("X", 0.9, 5, 10)]})  # tIoU exactly 0.5
    np.testing.assert_allclose(ap_of(gt, det, (0.5, 0.6)).mAP, [1.0, 0.0])


def test_thresholds_keep_given_order():
    gt = gt_doc({"a": [("X", 0, 10), ("X", 20, 30)]})
    det = det_doc({"a": [("X", 0.9, 0, 6), ("X", 0.8, 20, 28)]})  # tIoU .6 and .8
    ascending = ap_of(gt, det, (0.1, 0.5, 0.7))
    shuffled = ap_of(gt, det, (0.7, 0.1, 0.5))
    # at 0.7: FP then TP -> precision [0, .5], recall [0, .5] -> .25
    np.testing.assert_allclose(ascending.mAP, [1.0, 1.0, 0.25])
    np.testing.assert_allclose(shuffled.mAP, [0.25, 1.0, 1.0])
    np.testing.assert_allclose(shuffled.tiou_thresholds, [0.7, 0.1, 0.5])
    assert shuffled.to_json_dict()["tiou_thresholds"] == [0.7, 0.1, 0.5]


def test_subset_filtering():
    gt = {
        "database": {
            "t1": {"subset": "test", "annotations": [{"label": "X", "segment": [0, 10]}]},
            "v1": {"subset": "validation", "annotations": [{"label": "Z", "segment": [0, 10]}]},
        }
    }
    det = det_doc({"t1": [("X", 0.9, 0, 10)], "v1": [("Z", 0.9, 0, 10), ("X", 0.95, 0, 10)]})
    result = ap_of(gt, det, subset="test")
    assert result.class_names == ("X",)  # Z exists only in the other subset
    assert result.ignored_labels == {"Z": 1}
    assert result.prediction_videos_without_ground_truth == ("v1",)
    assert result.mAP[0] == pytest.approx(0.5)  # the X detection in v1 is a FP ranked first
    everything = ap_of(gt, det, subset=None)
    assert everything.class_names == ("X", "Z")
    # X: v1 FP (0.95) then t1 TP -> .5; Z: 1
    np.testing.assert_allclose(everything.ap_per_class[:, 0], [0.5, 1.0])
    with pytest.raises(ValueError, match="subsets present.*test.*validation"):
        ap_of(gt, det, subset="Test")  # exact match, as the official evaluator


def test_string_segments_and_string_labels():
    gt = {"database": {"a": {"subset": "test", "annotations": [{"label": "X", "segment": ["0.5", "10.25"]}]}}}
    det = {"results": {"a": [{"label": "X", "score": 0.3, "segment": ["0.5", "10.25"]}]}}
    assert ap_of(gt, det, (0.9, 1.0)).mAP.tolist() == [1.0, 1.0]
    numeric = {"results": {"a": [{"label": "X", "score": 0.3, "segment": [1.0, 10.25]}]}}
    assert ap_of(gt, numeric, (0.9, 0.95)).mAP.tolist() == [1.0, 0.0]


def test_integer_labels_compare_exactly():
    gt = {"database": {"a": {"subset": "test", "annotations": [{"label": 3, "segment": [0, 1]}]}}}
    det = {"results": {"a": [{"label": "3", "score": 1, "segment": [0, 1]}, {"label": 3, "score": 0.5, "segment": [0, 1]}]}}
    result = ap_of(gt, det)
    assert result.mAP[0] == 1.0 and result.ignored_labels == {"3": 1}
    assert result.to_json_dict()["per_class_ap"] == {"3": [1.0]}


def test_zero_length_segments_match_like_official():
    # official tIoU is 0/0 = NaN and `NaN < thr` is False, so it is a true positive
    gt = gt_doc({"a": [("X", 5, 5)]})
    det = det_doc({"a": [("X", 0.9, 5, 5), ("X", 0.8, 7, 7)]})
    result = ap_of(gt, det, (0.5, 0.9))
    np.testing.assert_allclose(result.mAP, [1.0, 1.0])


def test_strip_v_prefix_is_opt_in():
    gt = gt_doc({"abc": [("X", 0, 10)]})
    det = det_doc({"v_abc": [("X", 0.9, 0, 10)]})
    exact = ap_of(gt, det)
    assert exact.mAP[0] == 0.0 and exact.prediction_videos_without_ground_truth == ("v_abc",)
    stripped = ap_of(gt, det, strip_v_prefix=True)
    assert stripped.mAP[0] == 1.0 and stripped.prediction_videos_without_ground_truth == ()
    with pytest.raises(ValueError, match="both become"):
        ap_of(gt_doc({"abc": [("X", 0, 1)], "v_abc": [("X", 0, 1)]}), det, strip_v_prefix=True)


def test_blocked_videos_are_dropped_from_both_sides():
    gt = gt_doc({"a": [("X", 0, 10)], "b": [("X", 0, 10)]})
    det = det_doc({"a": [("X", 0.9, 0, 10)], "b": [("X", 0.95, 50, 60)]})
    assert ap_of(gt, det).mAP[0] == pytest.approx(0.25)
    result = ap_of(gt, det, blocked_videos=["b"])
    assert result.mAP[0] == 1.0 and result.num_ground_truth == 1 and result.num_predictions == 1


def test_presets_use_linspace_values():
    assert THUMOS14_TIOU_THRESHOLDS == tuple(np.linspace(0.1, 0.7, 7).tolist())
    assert ACTIVITYNET_TIOU_THRESHOLDS == tuple(np.linspace(0.5, 0.95, 10).tolist())


def test_json_dict_contents():
    gt = gt_doc({"a": [("X", 0, 10)]})
    det = det_doc({"a": [("X", 0.9, 0, 10)]})
    d = ap_of(gt, det, (0.1, 0.2)).to_json_dict()
    assert d["tiou_thresholds"] == [0.1, 0.2] and d["mAP"] == [1.0, 1.0] and d["average_mAP"] == 1.0
    assert d["per_class_ap"] == {"X": [1.0, 1.0]}
    import json

    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize(
    "gt, det, message",
    [
        ({"database": {"a": {"subset": "test", "annotations": [{"label": "X", "segment": [5, 1]}]}}}, {"results": {}}, "'a'.*annotation #0.*end 1.0 < start 5.0"),
        ({"database": {"a": {"subset": "test", "annotations": [{"segment": [0, 1]}]}}}, {"results": {}}, "'a'.*missing key 'label'"),
        ({"database": {"a": {"subset": "test"}}}, {"results": {}}, "'a'.*missing key 'annotations'"),
        ({"db": {}}, {"results": {}}, "missing top-level key 'database'"),
        ({"database": {"a": {"subset": "test", "annotations": [{"label": "X", "segment": [0, 1]}]}}}, {"results": {"a": [{"label": "X", "score": float("nan"), "segment": [0, 1]}]}}, "<predictions>.*'a'.*detection #0.*not finite"),
        ({"database": {"a": {"subset": "test", "annotations": [{"label": "X", "segment": [0, 1]}]}}}, {"results": {"a": [{"label": "X", "score": 1, "segment": [0, "x"]}]}}, "segment end 'x' is not a number"),
        ({"database": {"a": {"subset": "test", "annotations": [{"label": "X", "segment": [0, 1]}]}}}, {"results": {"a": [{"label": "X", "segment": [0, 1]}]}}, "missing key 'score'"),
        ({"database": {"a": {"subset": "test", "annotations": [{"label": "X", "segment": [0, 1]}]}}}, {"results": {"a": {"label": "X"}}}, "detections must be a list"),
    ],
)
def test_bad_documents_raise_clear_errors(gt, det, message):
    with pytest.raises(ResultsFormatError, match=message):
        compute_detection_map(gt, det, subset="test", tiou_thresholds=(0.5,))


def test_bad_thresholds_raise():
    gt = gt_doc({"a": [("X", 0, 10)]})
    with pytest.raises(ValueError):
        ap_of(gt, det_doc({}), (1.5,))
    with pytest.raises(ValueError):
        ap_of(gt, det_doc({}), ())


def test_per_class_table_lists_classes_in_class_order():
    gt = gt_doc({"a": [("Volleyball", 0, 10)], "b": [("BaseballPitch", 0, 5)], "c": [("Diving", 3, 9)]})
    det = det_doc({"a": [("Volleyball", 0.9, 0, 10)], "b": [("BaseballPitch", 0.8, 0, 5)]})
    result = ap_of(gt, det)
    assert result.class_names == ("Volleyball", "BaseballPitch", "Diving")  # the official evaluator's order
    rows = [line.split()[0] for line in result.format_table(per_class=True).splitlines()[4:]]
    assert rows == ["BaseballPitch", "Diving", "Volleyball"]

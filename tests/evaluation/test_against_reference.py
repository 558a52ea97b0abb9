"""The vectorised evaluator against a plain transcription of the official one, on random and real data."""
import json

import numpy as np
import pytest

from iwo_tf.evaluation import THUMOS14_TIOU_THRESHOLDS, compute_detection_map
from tests.evaluation.official_reference import reference_detection_map

THRESHOLDS = (0.1, 0.3, 0.5, 0.55, 0.7, 0.95, 0.2)


def random_documents(seed, num_videos=25, num_classes=6, grid=None):
    """Random GT / detections; with ``grid`` segments and scores are coarse so ties are frequent."""
    rng = np.random.default_rng(seed)
    classes = [f"class_{c}" for c in range(num_classes)]
    database, results = {}, {}
    for v in range(num_videos):
        video = f"video_{v:04d}"
        duration = float(rng.uniform(20, 200))
        subset = "test" if rng.random() < 0.8 else "validation"
        annotations = []
        for _ in range(int(rng.integers(0, 8))):
            start = float(rng.uniform(0, duration))
            length = float(rng.uniform(0.5, 30))
            if grid:
                start, length = round(start / grid) * grid, max(1, round(length / grid)) * grid
            annotations.append({"label": classes[int(rng.integers(num_classes - 1))], "segment": [start, start + length]})
        database[video] = {"subset": subset, "annotations": annotations}
        detections = []
        for a in annotations:  # near-misses and duplicates of the ground truth
            for _ in range(int(rng.integers(0, 3))):
                jitter = rng.normal(0, 3, size=2)
                if grid:
                    jitter = np.round(jitter / grid) * grid
                s, e = a["segment"][0] + jitter[0], a["segment"][1] + jitter[1]
                detections.append({"label": a["label"], "score": float(rng.random()), "segment": [float(s), float(max(s + (grid or 0.1), e))]})
        for _ in range(int(rng.integers(0, 40))):  # background (class_{C-1} never has ground truth)
            start = float(rng.uniform(0, duration))
            length = float(rng.uniform(0.2, 40))
            if grid:
                start, length = round(start / grid) * grid, max(1, round(length / grid)) * grid
            detections.append({"label": classes[int(rng.integers(num_classes))], "score": float(rng.random()), "segment": [start, start + length]})
        if grid:
            for d in detections:
                d["score"] = round(d["score"] * 4) / 4
        rng.shuffle(detections)
        results[video] = detections
    for v in range(3):  # prediction videos without ground truth
        results[f"unknown_{v}"] = [{"label": classes[0], "score": float(rng.random()), "segment": [0.0, 10.0]}]
    return {"database": database}, {"results": results}


def assert_same_as_reference(gt, det, subset, thresholds):
    ours = compute_detection_map(gt, det, subset=subset, tiou_thresholds=thresholds)
    names, ap, m_ap, average = reference_detection_map(gt, det, subset, thresholds)
    assert list(ours.class_names) == names
    np.testing.assert_allclose(ours.ap_per_class, np.array(ap), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.mAP, m_ap, rtol=0, atol=1e-12)
    assert abs(ours.average_mAP - average) <= 1e-12
    return ours


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("grid", [None, 0.5])
def test_random_inputs_match_reference(seed, grid):
    gt, det = random_documents(seed, grid=grid)
    ours = assert_same_as_reference(gt, det, "test", THRESHOLDS)
    assert 0 < ours.average_mAP < 1
    assert len(ours.prediction_videos_without_ground_truth) >= 3
    assert_same_as_reference(gt, det, None, THRESHOLDS)


def test_many_ties_large_groups_match_reference():
    # > 16 detections with equal scores in one video: ordering must still be the reversed stable sort
    gt, det = random_documents(123, num_videos=6, num_classes=3, grid=1.0)
    for entries in det["results"].values():
        for d in entries:
            d["score"] = 0.5
    assert_same_as_reference(gt, det, "test", THRESHOLDS)


def load_thumos14(shared_data):
    path = shared_data / "thumos14" / "actionformer" / "thumos14.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with open(path) as f:
        source = json.load(f)["database"]
    return {
        "version": "thumos14",
        "taxonomy": [],
        "database": {
            video: {
                "subset": entry["subset"],
                "annotations": [{"label": a["label"], "segment": list(a["segment"])} for a in entry["annotations"]],
            }
            for video, entry in source.items()
        },
    }


def test_thumos14_ground_truth_as_detections_gives_map_one(shared_data):
    gt = load_thumos14(shared_data)
    test_videos = {v: e for v, e in gt["database"].items() if e["subset"] == "Test"}
    assert len(test_videos) == 212
    det = {
        "results": {
            v: [{"label": a["label"], "score": 1.0 - 1e-4 * i, "segment": a["segment"]} for i, a in enumerate(e["annotations"])]
            for v, e in test_videos.items()
        }
    }
    result = compute_detection_map(gt, det, subset="Test", tiou_thresholds=THUMOS14_TIOU_THRESHOLDS)
    assert len(result.class_names) == 20
    assert result.num_ground_truth == 3358
    np.testing.assert_array_equal(result.mAP, np.ones(7))
    assert result.average_mAP == 1.0
    assert result.prediction_videos_without_ground_truth == ()


def test_thumos14_perturbed_detections_match_reference(shared_data):
    gt = load_thumos14(shared_data)
    classes = sorted({a["label"] for e in gt["database"].values() for a in e["annotations"]})
    rng = np.random.default_rng(2019)
    results = {}
    for video, entry in gt["database"].items():
        if entry["subset"] != "Test" or rng.random() < 0.05:
            continue
        detections = []
        for a in entry["annotations"]:
            if rng.random() < 0.2:
                continue  # missed
            s, e = a["segment"]
            length = e - s
            js, je = rng.normal(0, 0.25 * length + 0.2, size=2)
            start, end = s + js, max(s + js + 0.1, e + je)
            label = a["label"] if rng.random() < 0.9 else classes[int(rng.integers(len(classes)))]
            detections.append({"label": label, "score": round(float(rng.random()), 2), "segment": [start, end]})
        for _ in range(int(rng.integers(0, 15))):
            start = float(rng.uniform(0, 200))
            detections.append({"label": classes[int(rng.integers(len(classes)))], "score": round(float(rng.random()), 2), "segment": [start, start + float(rng.uniform(0.5, 20))]})
        results[video] = detections
    results["video_validation_0000051"] = [{"label": classes[0], "score": 0.99, "segment": [0.0, 5.0]}]  # other subset
    det = {"results": results}
    ours = assert_same_as_reference(gt, det, "Test", THUMOS14_TIOU_THRESHOLDS)
    assert 0.2 < ours.average_mAP < 0.95
    assert np.all(np.diff(ours.mAP) <= 0)  # mAP cannot grow with the threshold here
    assert "video_validation_0000051" in ours.prediction_videos_without_ground_truth


@pytest.mark.slow
def test_thumos14_large_random_prediction_set(shared_data):
    # 100k random detections: all evaluated, and chance-level mAP (speed is measured by benchmarks, not here).
    gt = load_thumos14(shared_data)
    classes = sorted({a["label"] for e in gt["database"].values() for a in e["annotations"]})
    rng = np.random.default_rng(0)
    results = {}
    for video, entry in gt["database"].items():
        if entry["subset"] != "Test":
            continue
        starts = rng.uniform(0, 300, size=480)
        lengths = rng.uniform(0.5, 15, size=480)
        labels = rng.integers(len(classes), size=480)
        scores = rng.random(480)
        results[video] = [
            {"label": classes[c], "score": float(sc), "segment": [float(s), float(s + l)]}
            for c, sc, s, l in zip(labels, scores, starts, lengths)
        ]
    result = compute_detection_map(gt, {"results": results}, subset="Test", tiou_thresholds=THUMOS14_TIOU_THRESHOLDS)
    assert result.num_predictions == 212 * 480
    assert np.all(result.mAP < 0.05) and result.mAP[0] > 0  # random segments: chance level, not zero

"""Reading, validating and atomically writing ground-truth and detection JSON."""
import json
import os

import pytest

from iwo_tf.evaluation import (
    ResultsFormatError,
    detections_document,
    load_json,
    parse_ground_truth,
    read_detections,
    read_ground_truth,
    write_detections,
    write_ground_truth,
    write_json_atomic,
)


def test_round_trip(tmp_path):
    gt_path = write_ground_truth(str(tmp_path / "gt.json"), {"a": {"subset": "test", "annotations": [{"label": "X", "segment": [0, 1]}]}})
    det_path = write_detections(str(tmp_path / "sub" / "det.json"), {"a": [{"label": "X", "score": 0.5, "segment": [0.0, 1.0]}]})
    assert read_ground_truth(gt_path)["database"]["a"]["annotations"][0]["label"] == "X"
    det = read_detections(det_path)
    assert set(det) == {"version", "results", "external_data"}
    assert sorted(os.listdir(tmp_path)) == ["gt.json", "sub"]
    assert os.listdir(tmp_path / "sub") == ["det.json"]


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = str(tmp_path / "out.json")
    write_json_atomic(path, {"ok": 1})
    with pytest.raises(ValueError):
        write_json_atomic(path, {"bad": float("nan")})
    assert load_json(path) == {"ok": 1}
    assert os.listdir(tmp_path) == ["out.json"]


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(ResultsFormatError, match="missing.json: file not found"):
        read_ground_truth(str(missing))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ResultsFormatError, match="broken.json: not valid JSON"):
        read_detections(str(broken))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": {"vid7": [{"label": "X", "score": 1, "segment": [3, 2]}]}}))
    with pytest.raises(ResultsFormatError, match=r"bad.json: video 'vid7', detection #0: segment end 2.0 < start 3.0"):
        read_detections(str(bad))


def test_parse_ground_truth_subset_and_strings():
    doc = {
        "database": {
            "a": {"subset": "test", "annotations": [{"label": "X", "segment": ["1.5", "2"]}]},
            "b": {"subset": "train", "annotations": [{"label": "Y", "segment": [0, 1]}]},
            "c": {"subset": "test", "annotations": []},
        }
    }
    parsed = parse_ground_truth(doc, subset="test")
    assert parsed.videos == ["a", "c"] and parsed.labels == ["X"]
    assert parsed.segments.tolist() == [[1.5, 2.0]]


def test_document_builders_validate():
    with pytest.raises(ResultsFormatError, match="'score' must be a number"):
        detections_document({"a": [{"label": "X", "score": "high", "segment": [0, 1]}]})
    with pytest.raises(ResultsFormatError, match="not finite"):
        detections_document({"a": [{"label": "X", "score": 1.0, "segment": [0, float("inf")]}]})

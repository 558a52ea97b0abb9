"""`python -m iwo_tf.evaluate` end to end."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from iwo_tf.evaluate import evaluate_files, parse_tiou_thresholds
from iwo_tf.evaluation import ACTIVITYNET_TIOU_THRESHOLDS, THUMOS14_TIOU_THRESHOLDS

REPO = pathlib.Path(__file__).resolve().parents[2]

GT = {
    "version": "test",
    "taxonomy": [],
    "database": {
        "a": {"subset": "Test", "annotations": [{"label": "X", "segment": [0, 10]}, {"label": "Y", "segment": [20, 30]}]},
        "b": {"subset": "Validation", "annotations": [{"label": "X", "segment": [0, 10]}]},
    },
}
DET = {
    "version": "test",
    "external_data": {},
    "results": {
        "a": [{"label": "X", "score": 0.9, "segment": [0, 10]}, {"label": "Y", "score": 0.8, "segment": [20, 26]}],
        "v_zzz": [{"label": "X", "score": 0.1, "segment": [0, 1]}],
    },
}


def cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "iwo_tf.evaluate", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def files(tmp_path):
    gt, det = tmp_path / "gt.json", tmp_path / "det.json"
    gt.write_text(json.dumps(GT))
    det.write_text(json.dumps(DET))
    return tmp_path, str(gt), str(det)


@pytest.mark.slow
def test_cli_writes_json_and_prints_table(files):
    tmp_path, gt, det = files
    out = tmp_path / "out" / "metrics.json"
    proc = cli("--ground_truth", gt, "--predictions", det, "--subset", "Test", "--tiou_thresholds", "0.1,0.5,0.7", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "mAP (%)" in proc.stdout and "100.00" in proc.stdout
    assert "prediction videos without ground truth: 1" in proc.stdout and "v_zzz" in proc.stdout
    result = json.loads(out.read_text())
    assert {"tiou_thresholds", "mAP", "average_mAP", "per_class_ap"} <= set(result)
    assert result["tiou_thresholds"] == [0.1, 0.5, 0.7]
    # X: TP (0.9) then the v_zzz FP -> 1; Y tIoU 0.6 -> 1, 1, 0
    assert result["mAP"] == pytest.approx([1.0, 1.0, 0.5])
    assert result["average_mAP"] == pytest.approx(2.5 / 3)
    assert result["per_class_ap"]["Y"] == pytest.approx([1.0, 1.0, 0.0])
    assert os.listdir(out.parent) == ["metrics.json"]  # no temporary files left behind


@pytest.mark.slow
def test_cli_presets_and_defaults(files):
    _, gt, det = files
    proc = cli("--ground_truth", gt, "--predictions", det, "--per_class")
    assert proc.returncode == 0, proc.stderr
    assert "all videos" in proc.stdout and "0.70" in proc.stdout and "Y" in proc.stdout
    proc = cli("--ground_truth", gt, "--predictions", det, "--tiou_thresholds", "activitynet", "--subset", "Test")
    assert proc.returncode == 0 and "0.95" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["results"]["a"][0].update(segment=[5, 1]), "det.json: video 'a', detection #0: segment end 1.0 < start 5.0"),
        (lambda d: d["results"]["a"][0].pop("score"), "det.json: video 'a', detection #0: missing key 'score'"),
        (lambda d: d.pop("results"), "det.json: missing top-level key 'results'"),
    ],
)
def test_cli_bad_input_fails_clearly(files, mutate, message):
    tmp_path, gt, det = files
    doc = json.loads(json.dumps(DET))
    mutate(doc)
    pathlib.Path(det).write_text(json.dumps(doc))
    out = tmp_path / "out.json"
    proc = cli("--ground_truth", gt, "--predictions", det, "--subset", "Test", "--output", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.slow
def test_cli_wrong_subset_and_missing_flags(files):
    _, gt, det = files
    proc = cli("--ground_truth", gt, "--predictions", det, "--subset", "test")
    assert proc.returncode == 2 and "subsets present: ['Test', 'Validation']" in proc.stderr
    proc = cli("--ground_truth", gt)
    assert proc.returncode != 0 and "predictions" in proc.stderr
    proc = cli("--ground_truth", gt, "--predictions", det, "--tiou_thresholds", "abc")
    assert proc.returncode == 2 and "bad tIoU thresholds" in proc.stderr


def test_evaluate_files_api(files):
    tmp_path, gt, det = files
    out = tmp_path / "r.json"
    result = evaluate_files(gt, det, subset="Test", tiou_thresholds=[0.5], output_path=str(out))
    assert result.mAP.tolist() == [1.0]
    assert json.loads(out.read_text())["mAP"] == [1.0]
    assert evaluate_files(gt, det, subset="", tiou_thresholds="0.5").subset is None


def test_parse_tiou_thresholds():
    assert parse_tiou_thresholds("thumos14") == THUMOS14_TIOU_THRESHOLDS
    assert parse_tiou_thresholds("ActivityNet") == ACTIVITYNET_TIOU_THRESHOLDS
    assert parse_tiou_thresholds("0.5:0.05:0.95") == ACTIVITYNET_TIOU_THRESHOLDS
    assert parse_tiou_thresholds("0.1:0.1:0.7") == THUMOS14_TIOU_THRESHOLDS
    assert parse_tiou_thresholds("0.1:0.25:0.7") == (0.1, 0.35, 0.6)
    assert parse_tiou_thresholds("0.7, 0.3") == (0.7, 0.3)
    assert parse_tiou_thresholds([0.5]) == (0.5,)
    for bad in ("", "0.5,1.2", "a:b:c", "0.1:0:0.5", "x"):
        with pytest.raises(ValueError):
            parse_tiou_thresholds(bad)

"""The evaluator's hostile-input limits: threshold count, duplicate keys, deep nesting; one-line CLI errors."""
import json
import os

import pytest

from iwo_tf.errors import UserInputError
from iwo_tf.evaluate import evaluate_files, parse_tiou_thresholds
from iwo_tf.evaluation import ResultsFormatError, compute_detection_map, load_json, write_json_atomic
from iwo_tf.evaluation.detection_map import MAX_TIOU_THRESHOLDS

from .test_cli import DET, GT, cli


@pytest.mark.parametrize("spec", ["0:1e-9:1", "0:0.0001:1", "0:1e-300:1", ",".join(["0.5"] * (MAX_TIOU_THRESHOLDS + 1))])
def test_the_number_of_thresholds_is_bounded(spec):
    with pytest.raises(UserInputError, match=f"at most {MAX_TIOU_THRESHOLDS}|more than {MAX_TIOU_THRESHOLDS}"):
        parse_tiou_thresholds(spec)


def test_the_bound_also_holds_for_the_library_call():
    with pytest.raises(UserInputError, match="at most"):
        compute_detection_map(GT, DET, tiou_thresholds=[0.5] * (MAX_TIOU_THRESHOLDS + 1))
    assert len(parse_tiou_thresholds("0:0.001:0.999")) == MAX_TIOU_THRESHOLDS  # the bound itself is allowed


@pytest.mark.parametrize("text, key", [
    ('{"database": {"a": {"subset": "Test", "annotations": []}, "a": {"subset": "Test", "annotations": []}}}', "a"),
    ('{"database": {}, "database": {}}', "database"),
    ('{"results": {"a": [{"label": "X", "score": 0.9, "score": 0.1, "segment": [0, 1]}]}}', "score"),
])
def test_a_duplicate_key_is_an_error_naming_file_and_key(tmp_path, text, key):
    path = tmp_path / "doc.json"
    path.write_text(text)
    with pytest.raises(ResultsFormatError, match=f"{path}: the key '{key}' occurs twice"):
        load_json(str(path))


def test_absurd_nesting_is_a_one_line_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"results": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(ResultsFormatError, match="nested too deeply") as raised:
        load_json(str(path))
    assert "\n" not in str(raised.value)


def test_results_are_written_with_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(str(tmp_path / "r.json"), {"a": 1})
        evaluate_files(*_files(tmp_path), subset="Test", output_path=str(tmp_path / "out.json"))
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "r.json").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "out.json").st_mode & 0o777 == 0o644


def _files(tmp_path):
    gt, det = tmp_path / "gt.json", tmp_path / "det.json"
    gt.write_text(json.dumps(GT))
    det.write_text(json.dumps(DET))
    return str(gt), str(det)


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--tiou_thresholds=0:1e-9:1"], "more than 1000"),
    (["--output=/proc/iwo-cannot-write/out.json"], "iwo-cannot-write"),
])
def test_cli_errors_are_one_line_with_status_2(tmp_path, args, message):
    gt, det = _files(tmp_path)
    proc = cli("--ground_truth", gt, "--predictions", det, *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]  # TF may log lines of its own
    assert len(errors) == 1 and message in errors[0]


@pytest.mark.slow
def test_cli_duplicate_key_in_ground_truth(tmp_path):
    gt, det = _files(tmp_path)
    with open(gt, "w") as f:
        f.write('{"database": {"a": {"subset": "Test", "annotations": []}, "a": {"subset": "Test", "annotations": []}}}')
    proc = cli("--ground_truth", gt, "--predictions", det)
    assert proc.returncode == 2 and f"{gt}: the key 'a' occurs twice" in proc.stderr and "Traceback" not in proc.stderr

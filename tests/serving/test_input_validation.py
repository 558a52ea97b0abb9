"""Timing and values checked in-graph (TF1 Session loader, as TF Serving runs them), and the offline
tool's refusals: never a silently wrong detection, never NaN or Infinity in a result."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.serving import serialize_features, write_results_json
from tests.serving.conftest import FEATURE_DIM
from tests.serving.test_signatures import features_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INF, NAN = np.float32(np.inf), np.float32(np.nan)


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"snippet_stride_sec": INF}, "snippet_stride_sec must be finite and > 0"),
        ({"snippet_stride_sec": np.float32(-0.5)}, "snippet_stride_sec must be finite and > 0"),
        ({"snippet_stride_sec": np.float32(0.0)}, "snippet_stride_sec must be finite and > 0"),
        ({"snippet_stride_sec": np.float32(0.0), "duration": np.float32(10.0)}, "snippet_stride_sec must be finite"),
        ({"snippet_stride_sec": NAN}, "snippet_stride_sec must be finite and > 0"),
        ({"snippet_offset_sec": INF}, "snippet_offset_sec must be finite"),
        ({"snippet_offset_sec": NAN}, "snippet_offset_sec must be finite"),
        ({"duration": INF}, "duration must be finite and >= 0"),
        ({"duration": np.float32(-1.0)}, "duration must be finite and >= 0"),
        ({"snippet_stride_sec": np.float32(1e38)}, "non-finite scores or detection times"),
    ],
    ids=["stride-inf", "stride-neg", "stride-0", "stride-0-duration", "stride-nan", "offset-inf", "offset-nan",
         "duration-inf", "duration-neg", "stride-1e38"],
)
def test_bad_timing_of_localize_with_options_is_invalid_argument(served, inputs, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served.run("localize_with_options", features=features_of(20), **inputs)


@pytest.mark.parametrize("signature", ["localize", "localize_with_options"])
@pytest.mark.parametrize("magnitude", [3e38, 1e30], ids=["sums-overflow", "squares-overflow"])
def test_finite_features_that_overflow_are_refused_at_the_input(served, signature, magnitude):
    features = np.full((6, FEATURE_DIM), magnitude, np.float32)
    features[::2] *= -1
    with pytest.raises(tf.errors.InvalidArgumentError, match="squares overflow float32"):
        served.run(signature, features=features)


@pytest.mark.parametrize(
    "timing, message",
    [
        ({"snippet_stride_sec": float("inf")}, "snippet_stride_sec must be finite and > 0"),
        ({"snippet_stride_sec": -1.0}, "snippet_stride_sec must be finite and > 0"),
        ({"snippet_stride_sec": 0.5, "snippet_offset_sec": float("nan")}, "snippet_offset_sec must be finite"),
        ({"snippet_stride_sec": 0.5, "duration": -3.0}, "duration must be finite and >= 0"),
        ({"snippet_stride_sec": 0.5, "duration": float("inf")}, "duration must be finite and >= 0"),
        ({"snippet_stride_sec": 1e38, "duration": 0.0}, "non-finite scores or detection times"),
    ],
    ids=["stride-inf", "stride-neg", "offset-nan", "duration-neg", "duration-inf", "stride-1e38"],
)
def test_bad_record_timing_fails_the_request_naming_the_video(served, timing, message):
    good = serialize_features("good", features_of(8), snippet_stride_sec=1.0)
    bad = serialize_features("clip_bad", features_of(8, seed=1), **timing)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message) as error:
        served.run("serving_default", examples=np.asarray([good, bad], dtype=object))
    if "non-finite" not in message:
        assert "clip_bad" in str(error.value)


@pytest.mark.parametrize("magnitude", [3e38, 1e30], ids=["sums-overflow", "squares-overflow"])
def test_record_with_overflowing_features_is_an_error_naming_the_video(served, magnitude):
    record = serialize_features("huge", np.full((5, FEATURE_DIM), magnitude, np.float32), snippet_stride_sec=1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)huge.*squares overflow float32"):
        served.run("serving_default", examples=np.asarray([record], dtype=object))


def test_results_json_refuses_non_finite_values(tmp_path):
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            write_results_json(str(tmp_path / "r.json"), {"v": [{"label": "a", "score": 0.5, "segment": [0.0, bad]}]})
    assert os.listdir(tmp_path) == []


def test_tf2_signature_localize_takes_features_alone(version_dir, served):
    loaded = tf.saved_model.load(version_dir)
    features = features_of(33, seed=8)
    tf2 = {k: v.numpy() for k, v in loaded.signatures["localize"](features=tf.constant(features)).items()}
    tf1 = served.run("localize", features=features)
    with_options = served.run("localize_with_options", features=features)
    for key in tf1:
        np.testing.assert_array_equal(tf2[key], tf1[key], err_msg=key)
        np.testing.assert_array_equal(with_options[key], tf1[key], err_msg=key)
    assert int(tf1["num_valid"]) > 0


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "export.localize_features", *args],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )


@pytest.mark.slow
def test_localize_features_refuses_one_video_id_in_two_folders(version_dir, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "vid1.npy", features_of(10))
    output = tmp_path / "out.json"
    result = run_cli(f"--model_dir={version_dir}", f"--npy={tmp_path}/a/*.npy,{tmp_path}/b/*.npy", f"--output={output}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert str(tmp_path / "a" / "vid1.npy") in line and str(tmp_path / "b" / "vid1.npy") in line
    assert not output.exists()


@pytest.mark.slow
def test_localize_features_cli_bad_stride_is_one_line_and_writes_nothing(version_dir, tmp_path):
    np.save(tmp_path / "clip.npy", features_of(10))
    output = tmp_path / "out.json"
    result = run_cli(f"--model_dir={version_dir}", f"--npy={tmp_path}/clip.npy", f"--output={output}", "--snippet_stride_sec=1e38")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "clip.npy" in line and "non-finite" in line
    assert not output.exists()
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = run_cli(f"--model_dir={version_dir}", f"--npy={tmp_path}/obj.npy", f"--output={output}")
    assert result.returncode == 2 and "obj.npy" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_localize_features_cli_empty_npy_and_broken_durations_are_one_line(version_dir, tmp_path):
    output = tmp_path / "out.json"
    (tmp_path / "empty.npy").write_bytes(b"")
    result = run_cli(f"--model_dir={version_dir}", f"--npy={tmp_path}/empty.npy", f"--output={output}")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "empty.npy: not a valid .npy file" in line
    np.save(tmp_path / "clip.npy", features_of(10))
    (tmp_path / "durations.json").write_text("{")
    result = run_cli(f"--model_dir={version_dir}", f"--npy={tmp_path}/clip.npy", f"--output={output}",
                     f"--durations_json={tmp_path}/durations.json")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "durations.json: not valid JSON" in line
    assert not output.exists()

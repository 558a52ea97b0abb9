"""The gRPC and REST request builders (and the client scripts' --dry_run) make requests the exported
signatures accept, checked through the TF1 Session loader (no model server exists here)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.python.framework import dtypes
from tensorflow_serving.apis import predict_pb2

from iwo_tf.errors import UserInputError
from iwo_tf.serving import serialize_features
from iwo_tf.serving.client_requests import decode_rest_inputs, grpc_request, request_inputs, rest_body
from tests.serving.test_signatures import features_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIONS = {"num_steps": 3, "top_q": 1, "segments_per_step": 2, "snippet_stride_sec": 0.5, "duration": 9.0}


def cases():
    records = [serialize_features(f"v{i}", features_of(12 + i, seed=i), snippet_stride_sec=0.5) for i in range(2)]
    return [
        ("localize", request_inputs("localize", features=features_of(20, seed=1))),
        ("localize_with_options", request_inputs("localize_with_options", features=features_of(20, seed=2), options=OPTIONS)),
        ("serving_default", request_inputs("serving_default", examples=records)),
    ]


def signature_dtypes(served, name):
    return {k: dtypes.as_dtype(v.dtype).as_numpy_dtype for k, v in served.meta_graph.signature_def[name].inputs.items()}


@pytest.mark.parametrize("index", [0, 1, 2], ids=["localize", "localize_with_options", "serving_default"])
def test_grpc_request_matches_the_signature_and_runs(served, index):
    name, inputs = cases()[index]
    request = predict_pb2.PredictRequest.FromString(grpc_request("iwo", name, inputs, version=3).SerializeToString())
    assert (request.model_spec.name, request.model_spec.signature_name, request.model_spec.version.value) == ("iwo", name, 3)
    signature = served.meta_graph.signature_def[name]
    assert set(request.inputs) <= set(signature.inputs)
    for key, proto in request.inputs.items():
        assert proto.dtype == signature.inputs[key].dtype, key
    decoded = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
    out = served.run(name, **decoded)
    direct = served.run(name, **inputs)
    for key in direct:
        np.testing.assert_array_equal(out[key], direct[key])


@pytest.mark.parametrize("index", [0, 1, 2], ids=["localize", "localize_with_options", "serving_default"])
def test_rest_body_decodes_to_what_the_signature_expects(served, index):
    name, inputs = cases()[index]
    body = json.loads(json.dumps(rest_body(name, inputs)))
    assert body["signature_name"] == name and set(body["inputs"]) == set(inputs)
    decoded = decode_rest_inputs(body, signature_dtypes(served, name))
    for key, value in inputs.items():
        if value.dtype == object:
            assert list(decoded[key]) == list(value)
        else:
            np.testing.assert_array_equal(decoded[key], value)
    out = served.run(name, **decoded)
    assert np.all(np.asarray(out["num_valid"]) > 0)


def test_requests_refuse_inputs_the_signature_does_not_take():
    with pytest.raises(UserInputError, match="localize_with_options"):
        request_inputs("localize", features=features_of(3), options={"num_steps": 2})
    with pytest.raises(UserInputError, match="records"):
        request_inputs("localize", examples=[b"x"])
    with pytest.raises(UserInputError, match="NaN or Inf"):
        rest_body("localize", {"features": np.full((2, 3), np.nan, np.float32)})


def run_client(script, *args):
    return subprocess.run(
        [sys.executable, "-m", f"export.{script}", *args],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )


@pytest.mark.slow
def test_client_scripts_dry_run_print_valid_requests(served, tmp_path):
    features = features_of(15, seed=4)
    np.save(tmp_path / "clip.npy", features)
    grpc_out = run_client("client_grpc", f"--npy={tmp_path / 'clip.npy'}", "--signature=localize_with_options",
                          "--num_steps=2", "--duration=7.5", "--model_name=iwo", "--dry_run")
    assert grpc_out.returncode == 0, grpc_out.stderr[-2000:]
    request = text_format.Parse(grpc_out.stdout, predict_pb2.PredictRequest())
    assert request.model_spec.signature_name == "localize_with_options"
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    np.testing.assert_array_equal(inputs["features"], features)
    assert int(inputs["num_steps"]) == 2 and float(inputs["duration"]) == 7.5
    assert served.run("localize_with_options", **inputs)["num_valid"] > 0

    rest_out = run_client("client_rest", f"--npy={tmp_path / 'clip.npy'}", "--signature=serving_default",
                          "--snippet_stride_sec=0.5", "--dry_run")
    assert rest_out.returncode == 0, rest_out.stderr[-2000:]
    body = json.loads(rest_out.stdout)
    decoded = decode_rest_inputs(body, signature_dtypes(served, "serving_default"))
    out = served.run("serving_default", **decoded)
    assert [v.decode() for v in out["video_id"]] == ["clip"]

    bad = run_client("client_rest", "--signature=localize", "--dry_run")
    assert bad.returncode == 2 and "error: signature 'localize' needs --npy" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("flag, message", [
    ("--server=not a url", "error: --server='not a url': expected host:port"),
    ("--model_name=a/b", "error: model name 'a/b' is not allowed"),
    ("--model_version=-2", "error: --model_version=-2: must be >= 0"),
    ("--timeout_sec=0", "error: --timeout_sec=0.0: must be finite and > 0"),
])
def test_client_targets_are_checked_before_anything_is_sent(tmp_path, flag, message):
    np.save(tmp_path / "clip.npy", features_of(5))
    result = run_client("client_rest", f"--npy={tmp_path / 'clip.npy'}", flag)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(message)

"""Requests for a TF Serving server running an IWO export: gRPC `PredictRequest` protos and REST JSON.

Both forms address one of the export's signatures: `localize` (one video's raw features),
`localize_with_options` (the same plus optional settings) or `serving_default` (serialized records).
The REST body uses the columnar `inputs` form; serialized records travel as `{"b64": ...}`.
"""
from __future__ import annotations

import base64
from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2

from iwo_tf.errors import UserInputError

FEATURE_SIGNATURES = ("localize", "localize_with_options")
OPTION_DTYPES = {
    "num_steps": np.int32,
    "top_q": np.int32,
    "segments_per_step": np.int32,
    "snippet_stride_sec": np.float32,
    "snippet_offset_sec": np.float32,
    "duration": np.float32,
}


def request_inputs(
    signature_name: str,
    *,
    features: Optional[np.ndarray] = None,
    examples: Optional[Sequence[bytes]] = None,
    options: Optional[Mapping[str, float]] = None,
) -> dict:
    """The named input arrays of one request, checked against the signature.

    Args:
        signature_name: `localize`, `localize_with_options` or `serving_default`.
        features: `[T, D]` features (the two `localize*` signatures).
        examples: serialized records (`serving_default`).
        options: optional settings of `localize_with_options` (None values left out, so the
            server uses the export's defaults).

    Returns:
        `{input name: numpy array}`.
    """
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if signature_name in FEATURE_SIGNATURES:
        if features is None or examples:
            raise UserInputError(f"signature {signature_name!r} takes features (a [T, D] .npy), not records")
        unknown = set(options) - set(OPTION_DTYPES)
        if unknown or (options and signature_name == "localize"):
            raise UserInputError(
                f"signature {signature_name!r} does not take {sorted(unknown or options)}; "
                "use localize_with_options for num_steps, top_q, segments_per_step, timing and duration"
            )
        inputs = {"features": np.asarray(features, np.float32)}
        inputs.update({name: np.asarray(value, OPTION_DTYPES[name]) for name, value in options.items()})
        return inputs
    if signature_name == "serving_default":
        if not examples or features is not None or options:
            raise UserInputError("signature 'serving_default' takes serialized records only")
        return {"examples": np.asarray(list(examples), dtype=object)}
    raise UserInputError(f"unknown signature {signature_name!r}; one of {list(FEATURE_SIGNATURES) + ['serving_default']}")


def grpc_request(model_name: str, signature_name: str, inputs: Mapping[str, np.ndarray], version: Optional[int] = None):
    """A `tensorflow.serving.PredictRequest` for the gRPC `PredictionService/Predict` call."""
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name))
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def rest_body(signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict:
    """The JSON body of `POST /v1/models/<name>[/versions/<v>]:predict` (columnar `inputs` form)."""

    def encode(value):
        if value.dtype == object:
            return [{"b64": base64.b64encode(item).decode("ascii")} for item in value.tolist()]
        if not np.all(np.isfinite(value)):
            raise UserInputError("inputs contain NaN or Inf, which JSON cannot carry (and the model refuses)")
        return value.tolist()

    return {"signature_name": signature_name, "inputs": {name: encode(value) for name, value in inputs.items()}}


def decode_rest_inputs(body: Mapping, dtypes: Mapping[str, np.dtype]) -> dict:
    """What a server makes of a REST body's columnar `inputs`: `{name: numpy array}` of `dtypes`.

    Used by the tests (no server here) to check that a body carries what the signature expects.
    """
    decoded = {}
    for name, value in body["inputs"].items():
        if dtypes[name] == object:
            decoded[name] = np.asarray([base64.b64decode(item["b64"]) for item in value], dtype=object)
        else:
            decoded[name] = np.asarray(value, dtype=dtypes[name])
    return decoded

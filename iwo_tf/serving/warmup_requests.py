"""TF Serving warmup records: `assets.extra/tf_serving_warmup_requests`.

TF Serving replays these `PredictionLog` protos when it loads a version, before it reports the
model available, so the first real request does not pay for lazy initialisation.
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_FILENAME = "tf_serving_warmup_requests"
# TF Serving reads at most this many warmup records.
MAX_WARMUP_RECORDS = 1000


def predict_log(model_name: str, signature_name: str, inputs: Mapping[str, np.ndarray]):
    """One `PredictionLog` holding a `PredictRequest` for `signature_name`."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name)
    )
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def build_warmup_requests(
    model_name: str,
    feature_dim: int,
    serialized_examples: Sequence[bytes],
    *,
    num_snippets: Sequence[int] = (32, 5),
    seed: int = 0,
):
    """Representative requests for both signatures.

    `localize` is asked with its one input, `localize_with_options` once with only the required
    input (every default in play) and once with every optional input set; `serving_default` gets
    one batch of records. Warmup only needs to
    run each graph path, and shapes after resampling do not depend on T, so small T keep the
    export small.

    Args:
        model_name: the TF Serving model name the requests address.
        feature_dim: D.
        serialized_examples: records in the project schema for `serving_default`.
        num_snippets: T of the two `localize` requests.
        seed: for the random features.

    Returns:
        A list of `PredictionLog`.
    """
    rng = np.random.default_rng(seed)
    first, second = num_snippets
    logs = [
        predict_log(model_name, "localize", {"features": rng.normal(size=(first, feature_dim)).astype(np.float32)}),
        predict_log(
            model_name,
            "localize_with_options",
            {"features": rng.normal(size=(second, feature_dim)).astype(np.float32)},
        ),
        predict_log(
            model_name,
            "localize_with_options",
            {
                "features": rng.normal(size=(second, feature_dim)).astype(np.float32),
                "num_steps": np.int32(2),
                "top_q": np.int32(1),
                "segments_per_step": np.int32(3),
                "snippet_stride_sec": np.float32(0.5),
                "snippet_offset_sec": np.float32(0.0),
                "duration": np.float32(second * 0.5),
            },
        ),
    ]
    if serialized_examples:
        logs.append(
            predict_log(model_name, "serving_default", {"examples": np.asarray(list(serialized_examples), dtype=object)})
        )
    return logs


def write_warmup_file(saved_model_dir: str, logs: Iterable) -> str:
    """Writes `PredictionLog`s to `<saved_model_dir>/assets.extra/tf_serving_warmup_requests`."""
    logs = list(logs)
    if len(logs) > MAX_WARMUP_RECORDS:
        raise ValueError(f"TF Serving reads at most {MAX_WARMUP_RECORDS} warmup records, got {len(logs)}")
    directory = os.path.join(saved_model_dir, "assets.extra")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, WARMUP_FILENAME)
    if os.path.lexists(path):
        raise FileExistsError(f"{path} already exists; warmup files are written into a fresh export only")
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup_file(path: str):
    """Reads the `PredictionLog`s back (for tests and inspection)."""
    logs = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        logs.append(log)
    return logs

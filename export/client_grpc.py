r"""Calls an IWO model on TF Serving over gRPC (port 8500) and prints the detections.

    python -m export.client_grpc --server=localhost:8500 --model_name=iwo --npy=video.npy
    python -m export.client_grpc --signature=localize_with_options --npy=video.npy --num_steps=5 --duration=212.3
    python -m export.client_grpc --signature=serving_default --tfrecords=data/test-00000-of-00004.tfrecord
    python -m export.client_grpc --npy=video.npy --dry_run     # print the PredictRequest, send nothing

The request is a `tensorflow.serving.PredictRequest` (tensorflow-serving-api). `--helpfull` lists
every flag.
"""
from __future__ import annotations

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()

import json

import grpc
import numpy as np
import tensorflow as tf
from absl import app
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_service_pb2_grpc

from export import client_common
from iwo_tf.errors import UserInputError, exit_on_user_error
from iwo_tf.serving.client_requests import grpc_request

FLAGS = client_common.FLAGS
client_common.define_flags("localhost:8500")


def main(argv):
    del argv
    client_common.check_target()
    request = grpc_request(FLAGS.model_name, FLAGS.signature, client_common.inputs_from_flags(), FLAGS.model_version)
    if FLAGS.dry_run:
        print(text_format.MessageToString(request))
        return
    channel = grpc.insecure_channel(FLAGS.server, options=[("grpc.max_send_message_length", 1 << 30)])
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
        response = stub.Predict(request, timeout=FLAGS.timeout_sec)
    except grpc.RpcError as error:
        raise UserInputError(f"{FLAGS.server}: {error.code().name}: {error.details()}") from None
    outputs = {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
    print(json.dumps({name: _plain(value) for name, value in outputs.items()}))


def _plain(value: np.ndarray):
    if value.dtype == object:
        return [v.decode("utf-8", "replace") for v in value.reshape(-1)] if value.ndim else value.item().decode()
    return value.tolist()


def run():
    """Entry point of the `iwo-client-grpc` console script (setup.py)."""
    app.run(lambda argv: exit_on_user_error(main, argv))


if __name__ == "__main__":
    run()

"""Flags and input loading shared by the gRPC and REST client scripts."""
from __future__ import annotations

import math
import re

import numpy as np
import tensorflow as tf
from absl import flags

from iwo_tf.data.safe_npy import load_feature_matrix
from iwo_tf.errors import UserInputError
from iwo_tf.serving.client_requests import OPTION_DTYPES, request_inputs
from iwo_tf.serving.export_paths import validate_model_name
from iwo_tf.serving.records import serialize_features

FLAGS = flags.FLAGS


def define_flags(default_server: str):
    """The flags both clients take."""
    flags.DEFINE_string("server", default_server, "host:port of the model server.")
    flags.DEFINE_string("model_name", "iwo", "Model name (MODEL_NAME / models.config name).")
    flags.DEFINE_integer("model_version", None, "A specific version (default: the server's latest).")
    flags.DEFINE_enum(
        "signature", "localize", ["localize", "localize_with_options", "serving_default"], "Signature to call."
    )
    flags.DEFINE_string("npy", None, "A [T, D] float .npy file of one video's snippet features.")
    flags.DEFINE_list("tfrecords", [], "TFRecord files in the project schema (serving_default sends their records).")
    flags.DEFINE_string("video_id", None, "serving_default with --npy: the id of the record built from it.")
    flags.DEFINE_bool("dry_run", False, "Print the request instead of sending it.")
    flags.DEFINE_float("timeout_sec", 60.0, "Request timeout.")
    for name, dtype in OPTION_DTYPES.items():
        (flags.DEFINE_integer if dtype == np.int32 else flags.DEFINE_float)(
            name, None, f"localize_with_options: {name} (export default if unset)."
        )


_SERVER = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")


def check_target() -> None:
    """`--server` is host:port and `--model_name` a model name as exports name them (they go into
    the request's address), `--model_version` >= 0 and `--timeout_sec` > 0.

    Raises:
        UserInputError: one line naming the flag.
    """
    if not _SERVER.match(FLAGS.server or ""):
        raise UserInputError(f"--server={FLAGS.server!r}: expected host:port, e.g. localhost:8501")
    validate_model_name(FLAGS.model_name)
    if FLAGS.model_version is not None and FLAGS.model_version < 0:
        raise UserInputError(f"--model_version={FLAGS.model_version}: must be >= 0")
    if not (math.isfinite(FLAGS.timeout_sec) and FLAGS.timeout_sec > 0):
        raise UserInputError(f"--timeout_sec={FLAGS.timeout_sec}: must be finite and > 0")


def inputs_from_flags() -> dict:
    """The request's named inputs from the command line."""
    options = {name: getattr(FLAGS, name) for name in OPTION_DTYPES}
    if FLAGS.signature == "serving_default":
        examples = []
        if FLAGS.npy:
            stride = FLAGS.snippet_stride_sec
            if stride is None:
                raise UserInputError("serving_default with --npy needs --snippet_stride_sec (records carry their timing)")
            video_id = FLAGS.video_id or FLAGS.npy.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            examples.append(
                serialize_features(
                    video_id, load_feature_matrix(FLAGS.npy), snippet_stride_sec=stride,
                    snippet_offset_sec=FLAGS.snippet_offset_sec or 0.0, duration=FLAGS.duration,
                )
            )
        for path in FLAGS.tfrecords:
            examples.extend(bytes(r) for r in tf.data.TFRecordDataset(path).as_numpy_iterator())
        return request_inputs("serving_default", examples=examples)
    if not FLAGS.npy:
        raise UserInputError(f"signature {FLAGS.signature!r} needs --npy")
    return request_inputs(FLAGS.signature, features=load_feature_matrix(FLAGS.npy), options=options)

r"""Calls an IWO model on TF Serving over REST (port 8501) and prints the JSON answer.

    python -m export.client_rest --server=localhost:8501 --model_name=iwo --npy=video.npy
    python -m export.client_rest --signature=localize_with_options --npy=video.npy --num_steps=5 --duration=212.3
    python -m export.client_rest --signature=serving_default --npy=video.npy --snippet_stride_sec=0.64
    python -m export.client_rest --npy=video.npy --dry_run > request.json   # then: curl -d @request.json ...

The body is `{"signature_name": ..., "inputs": {...}}` (columnar form), records as `{"b64": ...}`,
POSTed to `http://SERVER/v1/models/MODEL_NAME[/versions/V]:predict`. `--helpfull` lists every flag.
"""
from __future__ import annotations

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()

import json
import urllib.error
import urllib.request

from absl import app

from export import client_common
from iwo_tf.errors import UserInputError, exit_on_user_error
from iwo_tf.serving.client_requests import rest_body

FLAGS = client_common.FLAGS
client_common.define_flags("localhost:8501")


def predict_url() -> str:
    version = f"/versions/{int(FLAGS.model_version)}" if FLAGS.model_version is not None else ""
    return f"http://{FLAGS.server}/v1/models/{FLAGS.model_name}{version}:predict"


def main(argv):
    del argv
    client_common.check_target()
    body = json.dumps(rest_body(FLAGS.signature, client_common.inputs_from_flags()))
    if FLAGS.dry_run:
        print(body)
        return
    request = urllib.request.Request(predict_url(), data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=FLAGS.timeout_sec) as answer:
            print(answer.read().decode())
    except urllib.error.HTTPError as error:
        raise UserInputError(f"{predict_url()}: HTTP {error.code}: {error.read().decode(errors='replace')[:500]}") from None
    except urllib.error.URLError as error:
        raise UserInputError(f"{predict_url()}: {error.reason}") from None


def run():
    """Entry point of the `iwo-client-rest` console script (setup.py)."""
    app.run(lambda argv: exit_on_user_error(main, argv))


if __name__ == "__main__":
    run()

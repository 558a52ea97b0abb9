"""Export layout, versioning, models.config, graph contents and saved_model_cli."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.config import model_server_config_pb2

from iwo_tf.errors import UserInputError
from iwo_tf.serving import existing_versions, export_saved_model, latest_version_dir, read_warmup_file, write_models_config
from tests.serving.conftest import CLASS_NAMES, make_model

PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def graph_ops(saved_model_dir):
    """Every op type in the main graphs and in every library function of a SavedModel."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for meta_graph in proto.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def test_version_layout(version_dir, export_base):
    assert os.path.basename(version_dir) == "1" and os.path.dirname(version_dir) == str(export_base / "iwo")
    for name in ("saved_model.pb", "variables/variables.index", "assets.extra/tf_serving_warmup_requests", "assets.extra/iwo_export.json"):
        assert os.path.exists(os.path.join(version_dir, name)), name
    leftovers = [name for name in os.listdir(export_base / "iwo") if not name.isdigit()]
    assert not leftovers, f"temporary directories left behind: {leftovers}"


def test_models_config_points_tf_serving_at_the_model(version_dir, export_base):
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((export_base / "models.config").read_text(), config)
    (entry,) = config.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == ("iwo", "/models/iwo", "tensorflow")


def test_models_config_keeps_other_models(tmp_path):
    write_models_config(str(tmp_path), "a", "/models")
    write_models_config(str(tmp_path), "b", "/models")
    write_models_config(str(tmp_path), "a", "/srv")
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((tmp_path / "models.config").read_text(), config)
    assert {c.name: c.base_path for c in config.model_config_list.config} == {"a": "/srv/a", "b": "/models/b"}


@pytest.mark.slow
def test_new_versions_go_above_existing_ones(tmp_path):
    model = make_model(seed=3)
    (tmp_path / "m" / "7").mkdir(parents=True)
    (tmp_path / "m" / "7" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "m" / "not_a_version").mkdir()
    kwargs = dict(class_names=CLASS_NAMES, export_base=str(tmp_path), model_name="m", num_steps=2, segments_per_step=2)
    first = export_saved_model(model, **kwargs)
    assert os.path.basename(first) == "8"
    with pytest.raises(UserInputError, match="version 8 already exists"):
        export_saved_model(model, version=8, **kwargs)
    assert existing_versions(str(tmp_path / "m")) == [7, 8]
    assert latest_version_dir(str(tmp_path / "m")) == first
    assert sorted(os.listdir(tmp_path / "m")) == ["7", "8", "not_a_version"]


def test_no_python_ops_in_any_graph_function(version_dir):
    ops = graph_ops(version_dir)
    # The scan must reach the function bodies: the winners-out loop and the record parser live there.
    assert {"StatefulPartitionedCall"} & ops and {"While", "StatelessWhile"} & ops and "ParseExampleV2" in ops
    assert not ops & PYTHON_OPS


def test_python_op_scan_catches_py_function(tmp_path):
    module = tf.Module()
    module.f = tf.function(
        lambda x: tf.py_function(lambda y: y * 2, [x], tf.float32), input_signature=[tf.TensorSpec([], tf.float32)]
    )
    tf.saved_model.save(module, str(tmp_path), signatures=module.f)
    assert graph_ops(str(tmp_path)) & PYTHON_OPS


@pytest.mark.slow
def test_saved_model_cli_lists_signatures(version_dir):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = [cli] if os.path.exists(cli) else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    shown = subprocess.run(command + ["show", "--dir", version_dir, "--all"], capture_output=True, text=True, check=True)
    for text in ("signature_def['localize']", "signature_def['serving_default']", "features", "examples", "num_steps", "class_name", "video_scores"):
        assert text in shown.stdout, text


def test_warmup_requests_replay_through_the_session_loader(version_dir, served):
    logs = read_warmup_file(os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests"))
    assert {log.predict_log.request.model_spec.signature_name for log in logs} == {
        "localize", "localize_with_options", "serving_default"
    }
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "iwo"
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        out = served.run(request.model_spec.signature_name, **inputs)
        assert np.all(np.asarray(out["num_valid"]) >= 0)
        assert np.isfinite(out["video_scores"]).all()


@pytest.mark.slow
def test_export_cli(workdir, tmp_path):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(
        [sys.executable, "-m", "export.export_saved_model", f"--workdir={workdir}", f"--export_base={tmp_path}",
         "--model_name=cli", "--num_steps=3", "--top_q=1"],
        cwd=repo, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / "cli" / "1")
    import json

    metadata = json.loads((tmp_path / "cli" / "1" / "assets.extra" / "iwo_export.json").read_text())
    assert metadata["serving"]["num_steps"] == 3 and metadata["max_top_q"] == 1
    assert metadata["serving"]["segments_per_step"] == 3 and metadata["class_names"] == CLASS_NAMES

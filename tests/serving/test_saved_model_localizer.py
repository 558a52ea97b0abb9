"""Localizing a user's own feature files with an export, and the ActivityNet results JSON."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.serving import SavedModelLocalizer, serialize_features, write_results_json
from tests.serving.conftest import CLASS_NAMES, STRIDE
from tests.serving.test_signatures import features_of


def test_npy_and_tfrecord_files_give_the_signature_detections(version_dir, export_base, served, tmp_path):
    localizer = SavedModelLocalizer(str(export_base / "iwo"))  # a model dir resolves to its latest version
    assert localizer.path == version_dir
    videos = {"a": features_of(12, seed=1), "b": features_of(40, seed=2)}
    for name, x in videos.items():
        np.save(tmp_path / f"{name}.npy", x)
    results = localizer.localize_npy_files([str(tmp_path / "a.npy"), str(tmp_path / "b.npy")], durations={"b": 15.0})
    for name, x in videos.items():
        duration = np.float32(15.0 if name == "b" else 0.0)
        out = served.run("localize_with_options", features=x, duration=duration)
        entries = results[name]
        assert len(entries) == out["num_valid"] > 0
        for entry, label, score, start, end in zip(entries, out["class_name"], out["score"], out["start_sec"], out["end_sec"]):
            assert entry["label"] == label.decode() and entry["label"] in CLASS_NAMES
            np.testing.assert_allclose([entry["score"], *entry["segment"]], [score, start, end], atol=1e-6)
    assert max(e["segment"][1] for e in results["b"]) <= 15.0

    path = tmp_path / "test.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for name, x in videos.items():
            writer.write(serialize_features(name, x, snippet_stride_sec=STRIDE))
    from_records = localizer.localize_tfrecord_files([str(path)], batch_size=1)
    # "a" has the same timing both ways ("b" had an explicit, shorter duration for the .npy).
    assert [e["label"] for e in from_records["a"]] == [e["label"] for e in results["a"]]
    np.testing.assert_allclose(
        [[e["score"], *e["segment"]] for e in from_records["a"]], [[e["score"], *e["segment"]] for e in results["a"]], atol=1e-5
    )
    assert set(from_records) == {"a", "b"}


def test_results_json_is_activitynet_format_and_atomic(tmp_path):
    results = {"v": [{"label": "x", "score": 0.5, "segment": [1.0, 2.0]}]}
    path = write_results_json(str(tmp_path / "out" / "results.json"), results)
    content = json.loads(open(path).read())
    assert content["version"] == "VERSION 1.3" and content["results"] == results and "external_data" in content
    assert os.listdir(tmp_path / "out") == ["results.json"]


@pytest.mark.slow
def test_localize_features_cli(version_dir, tmp_path):
    np.save(tmp_path / "clip.npy", features_of(25, seed=5))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    output = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "export.localize_features", f"--model_dir={version_dir}",
         f"--npy={tmp_path}/*.npy", f"--output={output}", "--num_steps=2", "--snippet_stride_sec=0.5"],
        cwd=repo, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    content = json.loads(output.read_text())
    assert list(content["results"]) == ["clip"] and content["results"]["clip"]
    assert all(e["label"] in CLASS_NAMES for e in content["results"]["clip"])

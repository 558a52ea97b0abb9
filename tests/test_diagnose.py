"""The attention diagnostic: its formulas by hand, a model forced uniform vs peaked, and the command."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.synthetic import SyntheticSpec, generate_synthetic_dataset
from iwo_tf.diagnose import (
    attention_entropy_ratio,
    attention_part_shares,
    diagnose_attention,
    diagnose_run,
    segment_part_fractions,
    top_share,
)
from iwo_tf.model import IWOClassifier

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 20


def test_entropy_ratio_top_share_and_part_fractions_by_hand():
    uniform = np.full(8, 1 / 8)
    one_hot = np.eye(8)[3]
    assert attention_entropy_ratio(uniform) == pytest.approx(1.0)
    assert attention_entropy_ratio(one_hot) == pytest.approx(0.0)
    two = np.array([0.5, 0.5, 0, 0])
    assert attention_entropy_ratio(two) == pytest.approx(np.log(2) / np.log(4))
    keep = np.array([True, True, False, False])
    assert attention_entropy_ratio(two, keep) == pytest.approx(1.0)  # uniform over what is kept
    assert top_share(uniform, 0.25) == pytest.approx(0.25) and top_share(one_hot, 0.1) == pytest.approx(1.0)
    parts = np.array([0, 0, 1, 2, 2, 1])  # T=6 snippets into K=3 segments: pairs
    fractions = segment_part_fractions(parts, 3)
    assert fractions.tolist() == [[1, 0, 0], [0, 0.5, 0.5], [0, 0.5, 0.5]]
    # T < K: segment k holds snippet floor(k T / K) (as in the pipeline)
    assert segment_part_fractions(np.array([0, 2]), 4).tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]]
    assert attention_part_shares(np.array([0.2, 0.4, 0.4]), fractions).tolist() == pytest.approx([0.2, 0.4, 0.4])


def _model(kernel_scale=0.0, num_modules=2, dims=(4, 4)):
    model = IWOClassifier(num_classes=3, num_segments=K, stream_dims=dims, num_modules=num_modules, dropout_rate=0.0)
    model.build()
    for pooling in model.stream_poolings:
        kernel = np.zeros(pooling.kernel.shape, np.float32)
        kernel[0, :] = kernel_scale  # every module attends along the stream's first feature
        pooling.kernel.assign(kernel)
        pooling.position_bias.assign(np.zeros(pooling.position_bias.shape, np.float32))
    return model


def _constructed_batch():
    """Two videos; the first feature of each stream is 1 on strong snippets, 0 elsewhere."""
    parts = {"a": np.array([0] * 10 + [1] * 6 + [2] * 4 + [0] * 20), "b": np.array([0] * 5 + [2] * 2 + [1] * 8 + [0] * 5)}
    features = np.random.default_rng(0).normal(scale=0.01, size=(2, K, 8)).astype(np.float32)
    for row, video in enumerate(parts):
        strong = segment_part_fractions(parts[video], K)[:, 2]
        features[row, :, 0] += strong
        features[row, :, 4] += strong
    batch = {"features": tf.constant(features), "mask": tf.ones((2, K)), "video_id": tf.constant([b"a", b"b"])}
    return [batch], parts


def test_forced_uniform_attention_reads_as_uniform():
    batches, parts = _constructed_batch()
    report = diagnose_attention(_model(0.0), batches, K, parts)
    overall = report["overall"]
    assert report["num_videos"] == 2 and report["num_videos_with_parts"] == 2
    assert overall["entropy_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert overall["top10_share"] == pytest.approx(0.1, abs=1e-6)
    for name in ("strong", "weak", "background"):
        assert overall[f"{name}_share"] == pytest.approx(overall[f"{name}_uniform"], abs=1e-6)
        assert overall[f"{name}_lift"] == pytest.approx(1.0, abs=1e-5)


def test_forced_peaked_attention_reads_as_peaked_on_the_climax():
    batches, parts = _constructed_batch()
    report = diagnose_attention(_model(50.0), batches, K, parts)
    overall = report["overall"]
    assert overall["entropy_ratio"] < 0.35  # all weight on the 2-4 strong segments of 20
    assert overall["top10_share"] > 0.95
    assert overall["strong_share"] > 0.99 and overall["background_share"] < 0.01
    assert overall["strong_lift"] > 4
    assert len(report["streams"]) == 2 and report["streams"][0]["strong_share"] > 0.99


def test_masked_segments_are_not_counted():
    batches, parts = _constructed_batch()
    mask = np.ones((2, K), np.float32)
    mask[:, K // 2:] = 0  # half the segments removed: uniform over the other half is still uniform
    batches[0]["mask"] = tf.constant(mask)
    report = diagnose_attention(_model(0.0), batches, K, parts)
    assert report["overall"]["entropy_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert report["overall"]["top10_share"] == pytest.approx(0.2, abs=1e-6)  # 2 of 10 kept segments


def _fake_run(tmp_path, kernel_scale):
    data_dir = generate_synthetic_dataset(
        str(tmp_path / "data"), seed=1, spec=SyntheticSpec(num_classes=3, stream_dims=(4, 4), num_train=3, num_test=4, min_snippets=30, max_snippets=60, shards_per_subset=1)
    )
    workdir = tmp_path / "run"
    workdir.mkdir()
    _model(kernel_scale).save(str(workdir / "model.keras"))
    (workdir / "run_config.json").write_text(json.dumps({"data_dir": data_dir, "config": {}}))
    return str(workdir)


def test_diagnose_run_reads_the_run_and_the_data_parts(tmp_path):
    workdir = _fake_run(tmp_path, 0.0)
    report = diagnose_run(workdir)
    assert report["num_videos"] == 4 and report["num_videos_with_parts"] == 4 and report["parts_known"]
    assert report["overall"]["entropy_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert report["overall"]["strong_lift"] == pytest.approx(1.0, abs=1e-5)
    assert 0 < report["overall"]["strong_uniform"] < report["overall"]["background_uniform"]


@pytest.mark.slow
def test_command_writes_json_and_reports_user_errors_in_one_line(tmp_path):
    workdir = _fake_run(tmp_path, 0.0)
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run([sys.executable, "-m", "iwo_tf.diagnose", f"--workdir={workdir}"], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "entropy/log K 1.000" in done.stdout
    written = json.load(open(os.path.join(workdir, "attention_diagnosis.json")))
    assert written["overall"]["entropy_ratio"] == pytest.approx(1.0, abs=1e-6)
    missing = subprocess.run([sys.executable, "-m", "iwo_tf.diagnose", f"--workdir={tmp_path / 'nope'}"], capture_output=True, text=True, env=env, cwd=REPO)
    assert missing.returncode == 2 and "run_config.json: not found" in missing.stderr and "Traceback" not in missing.stderr
    negative = subprocess.run([sys.executable, "-m", "iwo_tf.diagnose", f"--workdir={workdir}", "--max_videos=-1"],
                              capture_output=True, text=True, env=env, cwd=REPO)
    assert negative.returncode == 1 and "--max_videos=-1: -1 is not a non-negative integer" in negative.stderr
    assert "Traceback" not in negative.stderr

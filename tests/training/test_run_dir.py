"""The workdir layout: safe figure names, no symlink followed, run_config.json schema and resume rules."""
import json
import os

import pytest

from iwo_tf.errors import UserInputError
from iwo_tf.training.run_dir import RunDir, data_fingerprint, run_config_document
from tests.training.conftest import tiny_config

MODEL_CONFIG = {"num_classes": 4, "num_segments": 32, "stream_dims": [16, 16], "num_modules": 4, "dropout_rate": 0.8,
                "pooling": "attention", "use_shifting_bias": False, "orthogonality_weight": 0.1, "name": "iwo"}


def _document(tmp_path, **overrides):
    config = tiny_config(_fake_dataset(tmp_path / "data"), **overrides)
    return run_config_document(config, ["a", "b", "c", "d"], MODEL_CONFIG, 0.64)


@pytest.mark.parametrize("video_id", ["../../escape", "a/b", "/abs/path", "..", "v\x00id", "ok_video-01.x"])
def test_figure_paths_stay_in_figures_whatever_the_video_id(tmp_path, video_id):
    run_dir = RunDir(str(tmp_path / "w"))
    path = run_dir.figure_path(2, video_id)
    assert os.path.dirname(path) == os.path.join(str(tmp_path / "w"), "figures")
    assert os.path.basename(path).startswith("step2_") and path.endswith(".png")
    written = run_dir.write_figure(2, video_id, b"\x89PNG")
    assert written == path and open(path, "rb").read() == b"\x89PNG"


def test_figure_ids_that_differ_get_different_files(tmp_path):
    run_dir = RunDir(str(tmp_path))
    ids = ["a/b", "a_b", "a?b", "a b"]
    assert len({run_dir.figure_path(1, v) for v in ids}) == len(ids)
    assert run_dir.figure_path(1, "a_b").endswith("step1_a_b.png")  # plain ids keep their name


def test_a_symlink_placed_at_a_figure_path_is_replaced_not_followed(tmp_path):
    run_dir = RunDir(str(tmp_path / "w"))
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    path = run_dir.figure_path(1, "video")
    os.makedirs(os.path.dirname(path))
    os.symlink(outside, path)
    run_dir.write_figure(1, "video", b"png bytes")
    assert outside.read_bytes() == b"precious"
    assert not os.path.islink(path) and open(path, "rb").read() == b"png bytes"


def test_run_config_keeps_the_keys_serving_reads_and_adds_a_serving_block(tmp_path):
    document = _document(tmp_path, winners_out__stream_weights=(1.0, 10.0))
    assert {"config", "dataset", "data_dir", "class_names", "model", "localization", "serving",
            "model_selection"} <= set(document)
    assert "name" not in document["model"]
    for key in ("num_steps", "top_q", "segments_per_step", "stream_weights", "score_method", "snippet_stride_sec",
                "snippets_per_segment"):
        assert key in document["localization"], key
    assert document["serving"] == {"num_steps": 3, "top_q": 2, "segments_per_step": 3, "stream_weights": [1.0, 10.0],
                                   "score_method": "csc", "snippet_stride_sec": 0.64, "snippet_offset_sec": 0.0}
    json.dumps(document, allow_nan=False)


def test_resume_rules_refuse_a_changed_invariant_section_and_accept_testing_changes(tmp_path):
    run_dir = RunDir(str(tmp_path / "w"))
    run_dir.prepare(_document(tmp_path), write=True)
    run_dir.prepare(_document(tmp_path, testing__num_steps=5), write=True)  # not part of what was trained
    assert run_dir.read_run_config()["localization"]["num_steps"] == 5
    with pytest.raises(UserInputError, match=r"run_config.json: .*'model' config differs"):
        run_dir.prepare(_document(tmp_path, model__num_modules=5), write=True)


def test_metrics_round_trip_by_step_and_mode(tmp_path):
    run_dir = RunDir(str(tmp_path))
    assert run_dir.load_metrics(1) == {}
    run_dir.write_metrics(1, "wo_testing", {"mAP": [0.5], "average_mAP": 0.5})
    assert run_dir.load_metrics(1) == {"wo_testing": {"mAP": [0.5], "average_mAP": 0.5}}
    assert os.path.exists(run_dir.metrics_path(1, "wo_testing"))


def _fake_dataset(directory, features=b"x" * 100, labels="a\nb\n"):
    """The files `data_fingerprint` reads: dataset.json, classes.txt, ground_truth.json and one shard."""
    os.makedirs(directory, exist_ok=True)
    (directory / "dataset.json").write_text(json.dumps({"subsets": {"train": {"files": ["train-0.tfrecord"]}}}))
    (directory / "classes.txt").write_text(labels)
    (directory / "ground_truth.json").write_text(json.dumps({"database": {"v1": {"subset": "train"}}}))
    (directory / "train-0.tfrecord").write_bytes(features)
    return directory


def test_the_data_fingerprint_follows_contents_and_shard_sizes_not_the_path(tmp_path):
    first = data_fingerprint(str(_fake_dataset(tmp_path / "a")))
    assert data_fingerprint(str(_fake_dataset(tmp_path / "moved"))) == first
    assert data_fingerprint(str(_fake_dataset(tmp_path / "longer", features=b"x" * 101))) != first
    assert data_fingerprint(str(_fake_dataset(tmp_path / "classes", labels="a\nc\n"))) != first


def _document_for(tmp_path, data_dir, **overrides):
    config = tiny_config(data_dir, **overrides)
    return run_config_document(config, ["a", "b"], MODEL_CONFIG, 0.64)


def test_resuming_on_other_data_with_the_same_ids_is_refused_and_run_config_kept(tmp_path):
    run_dir = RunDir(str(tmp_path / "w"))
    original = _document_for(tmp_path, _fake_dataset(tmp_path / "a"))
    run_dir.prepare(original, write=True)
    run_dir.release()
    stored = open(run_dir.run_config_path, "rb").read()
    other = _document_for(tmp_path, _fake_dataset(tmp_path / "b", features=b"y" * 120))
    with pytest.raises(UserInputError, match=r"run_config.json: the workdir holds a run trained on other data") as error:
        run_dir.prepare(other, write=True)
    assert "\n" not in str(error.value)
    assert open(run_dir.run_config_path, "rb").read() == stored
    moved = _document_for(tmp_path, _fake_dataset(tmp_path / "moved"))  # same data elsewhere: same run
    run_dir.prepare(moved, write=True)
    assert run_dir.read_run_config()["identity"] == original["identity"]


def test_resuming_with_another_seed_is_refused(tmp_path):
    data = _fake_dataset(tmp_path / "a")
    run_dir = RunDir(str(tmp_path / "w"))
    run_dir.prepare(_document_for(tmp_path, data), write=True)
    run_dir.release()
    document = _document_for(tmp_path, data)
    document["config"]["seed"] = 7
    with pytest.raises(UserInputError, match=r"config.seed=0, not 7"):
        run_dir.prepare(document, write=True)


def test_a_second_user_of_a_workdir_fails_at_once_naming_the_holders_pid(tmp_path):
    first, second = RunDir(str(tmp_path / "w")), RunDir(str(tmp_path / "w"))
    first.lock()
    assert open(first.lock_path).read().strip() == str(os.getpid())
    with pytest.raises(UserInputError, match=rf"another run \(pid {os.getpid()}\) is using this workdir"):
        second.lock()
    first.release()
    second.lock()  # free again once released
    second.release()


def test_run_dir_files_on_a_url_filesystem(tmp_path):
    run_dir = RunDir("ram://iwo-test-run/w")
    run_dir.lock()  # a URL cannot be locked: a warning, not an error
    assert run_dir.read_run_config() is None
    document = _document(tmp_path)
    run_dir.prepare(document, write=True)
    assert run_dir.read_run_config()["identity"] == document["identity"]
    run_dir.write_metrics(1, "wo_testing", {"average_mAP": 0.25})
    assert run_dir.load_metrics(1) == {"wo_testing": {"average_mAP": 0.25}}
    run_dir.write_figure(1, "a/b", b"png")
    assert run_dir.figure_path(1, "a/b").startswith("ram://iwo-test-run/w/figures/step1_a_b-")

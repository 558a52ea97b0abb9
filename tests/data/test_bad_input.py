"""Every bad input from the issue: an error naming file, video and problem, or a counted skip; never a partial directory."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.convert import convert
from iwo_tf.data.dataset_info import DatasetNotReadyError, dataset_problem, load_dataset_info, verify_records
from iwo_tf.data.dataset_writer import DatasetWriter
from iwo_tf.data.pipeline import make_dataset
from iwo_tf.data.schema import VideoRecord
from iwo_tf.data.validation import BadVideoError
from iwo_tf.errors import UserInputError

from .conftest import STREAM_DIMS, fake_features, write_per_video


def _annotations(path, videos, label="Archery"):
    database = {v: {"subset": "validation" if i % 2 else "training", "duration": 10.0,
                    "annotations": [{"label": label, "segment": [1.0, 2.0]}]} for i, v in enumerate(videos)}
    path.write_text(json.dumps({"database": database}))
    return str(path)


@pytest.fixture
def small_layout(tmp_path, rng):
    """An ActivityNet-json layout with 6 good videos; tests then break one thing."""
    videos = [f"vid{i}" for i in range(6)]
    return {
        "annotation_files": [_annotations(tmp_path / "anet.json", videos)],
        "features_dir": write_per_video(tmp_path / "features", videos, rng),
    }


def _convert(tmp_path, layout_args, **options):
    return convert("activitynet", str(tmp_path / "out"), stream_dims=STREAM_DIMS, progress=False, **layout_args, **options)


def _no_output_left(tmp_path):
    assert not (tmp_path / "out").exists()
    assert not [name for name in os.listdir(tmp_path) if ".incomplete-" in name]


@pytest.mark.parametrize(
    "features, reason, message",
    [
        (np.zeros((5, 6), np.float32), "wrong_feature_dimension", "D=6, expected 8"),
        (np.full((5, 8), np.nan, np.float32), "non_finite_features", "NaN or Inf"),
        (np.concatenate([np.zeros((3, 8)), [[np.inf] * 8]]).astype(np.float32), "non_finite_features", "first at snippet 3"),
        (np.zeros((0, 8), np.float32), "zero_snippets", "zero snippets"),
        (np.zeros((5,), np.float32), "wrong_feature_dimension", "2-D"),
    ],
)
def test_bad_features_are_errors_by_default_and_counted_skips_on_request(tmp_path, small_layout, features, reason, message):
    bad_file = os.path.join(small_layout["features_dir"], "vid3.npy")
    np.save(bad_file, features)
    with pytest.raises(BadVideoError, match=message) as raised:
        _convert(tmp_path, small_layout)
    assert raised.value.reason == reason and raised.value.video_id == "vid3" and raised.value.path == bad_file
    assert bad_file in str(raised.value) and "'vid3'" in str(raised.value)
    _no_output_left(tmp_path)
    report = _convert(tmp_path, small_layout, on_bad_video="skip")
    assert sum(report.videos.values()) == 5
    assert [(s["video_id"], s["reason"], s["file"]) for s in report.skipped] == [("vid3", reason, bad_file)]
    assert load_dataset_info(report.output_dir).skipped["by_reason"] == {reason: 1}


def test_unreadable_feature_file(tmp_path, small_layout):
    bad_file = os.path.join(small_layout["features_dir"], "vid2.npy")
    with open(bad_file, "wb") as f:
        f.write(b"not an npy file")
    with pytest.raises(BadVideoError, match="cannot load features") as raised:
        _convert(tmp_path, small_layout)
    assert raised.value.path == bad_file and raised.value.video_id == "vid2"
    _no_output_left(tmp_path)


def test_a_label_not_in_the_class_list(tmp_path, small_layout):
    with pytest.raises(BadVideoError, match=r"labels \['Archery'\] are not in the class list") as raised:
        _convert(tmp_path, small_layout, class_list=["BMX", "Ballet"])
    assert raised.value.reason == "label_not_in_class_list" and raised.value.path == small_layout["annotation_files"][0]
    _no_output_left(tmp_path)


def test_annotated_without_features_and_the_reverse(tmp_path, small_layout, rng):
    os.remove(os.path.join(small_layout["features_dir"], "vid1.npy"))
    write_per_video(small_layout["features_dir"], ["stray"], rng)
    report = _convert(tmp_path, small_layout)
    skipped = {s["video_id"]: s for s in report.skipped}
    assert skipped["vid1"]["reason"] == "annotated_but_no_features" and skipped["vid1"]["subset"] == "test"
    assert skipped["stray"]["reason"] == "features_but_not_annotated" and skipped["stray"]["file"].endswith("stray.npy")
    assert sum(report.videos.values()) == 5
    assert "annotated_but_no_features: 1" in report.summary() and "features_but_not_annotated: 1" in report.summary()
    metadata = json.load(open(tmp_path / "out" / "dataset.json"))
    assert metadata["skipped"]["count"] == 2
    with pytest.raises(BadVideoError, match="no feature file") as raised:
        convert("activitynet", str(tmp_path / "strict"), stream_dims=STREAM_DIMS, progress=False, on_missing_features="error", **small_layout)
    assert raised.value.video_id == "vid1"
    with pytest.raises(BadVideoError, match="no annotations") as raised:
        convert("activitynet", str(tmp_path / "strict"), stream_dims=STREAM_DIMS, progress=False, on_unannotated_features="error", **small_layout)
    assert raised.value.video_id == "stray"
    assert not (tmp_path / "strict").exists()


def test_duplicate_ids_are_always_errors(tmp_path, small_layout):
    second = tmp_path / "more.json"
    _annotations(second, ["vid0"])
    layout = {**small_layout, "annotation_files": small_layout["annotation_files"] + [str(second)]}
    with pytest.raises(BadVideoError, match="vid0") as raised:
        _convert(tmp_path, layout, on_bad_video="skip")
    assert raised.value.reason == "duplicate_video_id" and str(second) in str(raised.value)
    _no_output_left(tmp_path)
    with DatasetWriter(str(tmp_path / "direct"), ["a"], [2], {"train": 1}) as writer:
        writer.add(VideoRecord("x", "train", [0], 1.0, 0.5, np.zeros((2, 2))))
        with pytest.raises(BadVideoError, match="occurs twice"):
            writer.add(VideoRecord("x", "train", [0], 1.0, 0.5, np.zeros((2, 2))))


def test_an_interrupted_conversion_leaves_no_directory(tmp_path, small_layout, monkeypatch):
    import iwo_tf.data.convert as convert_module

    original = convert_module._record_for
    calls = []

    def failing(video, *args):
        calls.append(video.video_id)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(video, *args)

    monkeypatch.setattr(convert_module, "_record_for", failing)
    with pytest.raises(KeyboardInterrupt):
        _convert(tmp_path, small_layout)
    _no_output_left(tmp_path)


def test_existing_output_is_kept_unless_overwrite(tmp_path, small_layout):
    _convert(tmp_path, small_layout)
    with pytest.raises(FileExistsError, match="already exists") as raised:
        _convert(tmp_path, small_layout)
    assert isinstance(raised.value, UserInputError)  # one line from every command
    assert dataset_problem(str(tmp_path / "out")) is None
    _convert(tmp_path, small_layout, overwrite=True)
    assert dataset_problem(str(tmp_path / "out")) is None


def test_missing_and_incomplete_directories(tmp_path):
    with pytest.raises(DatasetNotReadyError, match="does not exist") as raised:
        load_dataset_info(str(tmp_path / "nothing"))
    # A user error (tools print it in one line, exit 2) that `except FileNotFoundError` still catches.
    assert isinstance(raised.value, UserInputError) and isinstance(raised.value, FileNotFoundError)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train-00000-of-00001.tfrecord").write_bytes(b"")
    with pytest.raises(DatasetNotReadyError, match="incomplete: it has no dataset.json"):
        load_dataset_info(str(tmp_path / "half"))


def _one_shard_dataset(tmp_path, rng):
    path = str(tmp_path / "ds")
    with DatasetWriter(path, ["a", "b"], list(STREAM_DIMS), {"train": 1}) as writer:
        for i in range(4):
            writer.add(VideoRecord(f"v{i}", "train", [i % 2], 5.0, 0.5, fake_features(rng, 6)))
    return path, load_dataset_info(path).files("train")[0]


def test_truncated_tfrecord(tmp_path, rng):
    path, shard = _one_shard_dataset(tmp_path, rng)
    size = os.path.getsize(shard)
    with open(shard, "r+b") as f:
        f.truncate(size - 10)
    with pytest.raises(DatasetNotReadyError, match=f"{shard} is damaged: {size - 10} bytes on disk, {size} written"):
        load_dataset_info(path)
    # Reading the shard directly still fails loudly, never yields fewer videos silently.
    with pytest.raises(tf.errors.DataLossError):
        list(make_dataset([shard], num_segments=3, num_classes=2, training=False, batch_size=2, feature_dim=8))


def test_corrupt_tfrecord(tmp_path, rng):
    path, shard = _one_shard_dataset(tmp_path, rng)
    data = bytearray(open(shard, "rb").read())
    data[len(data) // 2] ^= 0xFF  # flips bits inside the second or third record's payload: CRC mismatch
    open(shard, "wb").write(bytes(data))
    assert dataset_problem(path) is None  # same size: only reading finds it
    with pytest.raises(DatasetNotReadyError, match=f"{shard}: record [12] \\(after video 'v[01]'\\) is corrupt"):
        verify_records(path)


@pytest.mark.parametrize("content, message", [
    ("", r"anet.json: not valid JSON"),
    ("\udcff", r"anet.json: not valid JSON"),
    ("[1, 2]", r"anet.json: expected a JSON object whose 'database' maps video ids to objects"),
    ('{"version": 1}', r"anet.json: expected a JSON object whose 'database'"),
    ('{"database": {"vid0": [1, 2]}}', r"anet.json: video 'vid0': its entry is a list, expected an object"),
    ('{"database": {"vid0": {"annotations": []}}}', r"anet.json: video 'vid0': its entry has no 'subset'"),
])
def test_a_malformed_annotation_json_is_one_line_naming_the_file(tmp_path, small_layout, content, message):
    path = tmp_path / "anet.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(UserInputError, match=message):
        _convert(tmp_path, small_layout)
    _no_output_left(tmp_path)


def test_malformed_durations_and_class_lists_are_one_line_naming_the_file(tmp_path):
    from iwo_tf.data.layouts.input_json import read_class_list, read_durations

    (tmp_path / "info.json").write_text('{"v1": {"duration": 3.0}, "v2": 7}')
    with pytest.raises(UserInputError, match=r"info.json: video 'v2': its entry is a int, expected an object"):
        read_durations(str(tmp_path / "info.json"))
    (tmp_path / "info.json").write_text('{"v1": {"duration": 3.0}, "v2": {}}')
    assert read_durations(str(tmp_path / "info.json")) == {"v1": 3.0}
    (tmp_path / "classes.json").write_text('{"a": 1}')
    with pytest.raises(UserInputError, match=r"classes.json: expected a JSON list of class names"):
        read_class_list(str(tmp_path / "classes.json"))


@pytest.mark.parametrize("options, message", [
    ({"stream_dims": (-4, 12)}, r"--stream_dims=-4,12: expected one positive integer width per stream"),
    ({"stream_dims": ("a", "b")}, r"--stream_dims=a,b: expected one positive integer width per stream"),
    ({"num_shards": 0}, r"--num_shards=0: must be an integer >= 1"),
    ({"num_shards": -2}, r"--num_shards=-2: must be an integer >= 1"),
])
def test_stream_widths_and_shard_counts_that_mean_nothing_are_refused(tmp_path, small_layout, options, message):
    options = {"stream_dims": STREAM_DIMS, **options}
    with pytest.raises(UserInputError, match=message):
        convert("activitynet", str(tmp_path / "out"), progress=False, **small_layout, **options)
    _no_output_left(tmp_path)


@pytest.mark.parametrize("name", ["clip_frames", "clip_stride_frames"])
@pytest.mark.parametrize("value", [0.0, float("inf")])
def test_actionformer_clip_geometry_must_be_positive_and_finite(tmp_path, name, value):
    from iwo_tf.data.layouts import actionformer

    with pytest.raises(UserInputError, match=f"--{name}={value}: must be positive and finite"):
        actionformer.read(str(tmp_path / "af.json"), str(tmp_path), **{name: value})

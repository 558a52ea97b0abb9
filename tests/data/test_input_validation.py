"""Converter input validation: frame rates, durations, feature dtypes, ambiguous files, FIFOs."""
import json
import os
import signal

import numpy as np
import pytest

from iwo_tf.data.convert import convert
from iwo_tf.data.dataset_info import load_dataset_info
from iwo_tf.data.validation import BadVideoError
from iwo_tf.errors import UserInputError

from .conftest import STREAM_DIMS, fake_features, write_per_video

VIDEOS = [f"vid{i}" for i in range(4)]


def _anet(tmp_path, rng, durations=None):
    durations = durations or {}
    database = {v: {"subset": "validation" if i % 2 else "training", "duration": durations.get(v, 10.0),
                    "annotations": [{"label": "Archery", "segment": [1.0, 2.0]}]} for i, v in enumerate(VIDEOS)}
    (tmp_path / "anet.json").write_text(json.dumps({"database": database}))
    return {"annotation_files": [str(tmp_path / "anet.json")], "features_dir": write_per_video(tmp_path / "features", VIDEOS, rng)}


def _actionformer(tmp_path, rng, fps):
    database = {v: {"subset": "Validation" if i % 2 else "Test", "fps": fps.get(v, 30.0), "duration": 10.0,
                    "annotations": [{"label": "Archery", "segment": [1.0, 2.0], "label_id": 0}]} for i, v in enumerate(VIDEOS)}
    (tmp_path / "thumos14.json").write_text(json.dumps({"database": database}))
    return {"annotations_json": str(tmp_path / "thumos14.json"), "features_dir": write_per_video(tmp_path / "features", VIDEOS, rng)}


def _run(layout, tmp_path, args, **options):
    return convert(layout, str(tmp_path / "out"), stream_dims=STREAM_DIMS, progress=False, **args, **options)


@pytest.mark.parametrize("fps", [0, -25.0, "nan", "abc", None])
def test_a_bad_fps_is_a_bad_video(tmp_path, rng, fps):
    args = _actionformer(tmp_path, rng, {"vid2": fps})
    with pytest.raises(BadVideoError, match="fps") as raised:
        _run("actionformer", tmp_path, args)
    assert raised.value.video_id == "vid2" and raised.value.path == args["annotations_json"] and raised.value.reason == "bad_timing"
    report = _run("actionformer", tmp_path, args, on_bad_video="skip")
    assert [s["video_id"] for s in report.skipped] == ["vid2"] and sum(report.videos.values()) == 3


@pytest.mark.parametrize("duration, message", [(-5.0, "negative"), ("inf", "not finite"), ("ten", "not a number")])
def test_a_bad_duration_is_a_bad_video(tmp_path, rng, duration, message):
    args = _anet(tmp_path, rng, {"vid1": duration})
    with pytest.raises(BadVideoError, match=message) as raised:
        _run("activitynet", tmp_path, args)
    assert raised.value.video_id == "vid1" and raised.value.path == args["annotation_files"][0]
    report = _run("activitynet", tmp_path, args, on_bad_video="skip")
    assert [(s["video_id"], s["reason"]) for s in report.skipped] == [("vid1", "bad_timing")]


@pytest.mark.parametrize("bad_fps", [0.0, float("inf"), float("nan"), -1.0])
def test_bad_frame_rate_flags_are_one_line_user_errors(tmp_path, rng, bad_fps):
    with pytest.raises(UserInputError, match="feature_fps"):
        _run("activitynet", tmp_path, _anet(tmp_path, rng), feature_fps=bad_fps)


@pytest.mark.parametrize("features, dtype_text", [
    (np.zeros((5, 8), np.complex64), "complex64"),
    (np.zeros((5, 8), [("a", "<f4"), ("b", "<f4")]), "a"),
    (np.full((5, 8), "abc"), "<U3"),
    (np.full((5, 8), "1.5"), "<U3"),  # numeric-looking strings are still strings
    (np.zeros((5, 8), bool), "bool"),
])
def test_non_real_feature_dtypes_are_bad_videos_naming_file_and_video(tmp_path, rng, features, dtype_text):
    args = _anet(tmp_path, rng)
    bad_file = os.path.join(args["features_dir"], "vid3.npy")
    np.save(bad_file, features)
    with pytest.raises(BadVideoError, match="expected real numbers") as raised:
        _run("activitynet", tmp_path, args)
    assert raised.value.path == bad_file and raised.value.video_id == "vid3" and dtype_text in str(raised.value)
    assert "\n" not in str(raised.value)
    report = _run("activitynet", tmp_path, args, on_bad_video="skip")
    assert [(s["video_id"], s["reason"]) for s in report.skipped] == [("vid3", "non_numeric_features")]


def test_integer_and_float64_features_are_accepted(tmp_path, rng):
    args = _anet(tmp_path, rng)
    np.save(os.path.join(args["features_dir"], "vid0.npy"), np.arange(40, dtype=np.int32).reshape(5, 8))
    np.save(os.path.join(args["features_dir"], "vid1.npy"), fake_features(rng).astype(np.float64))
    report = _run("activitynet", tmp_path, args)
    assert report.skipped == [] and sum(report.videos.values()) == 4


def test_v_prefixed_and_plain_feature_files_for_one_video_are_an_error(tmp_path, rng):
    args = _anet(tmp_path, rng)
    np.save(os.path.join(args["features_dir"], "v_vid2.npy"), fake_features(rng))
    with pytest.raises(BadVideoError, match=r"both .*vid2.npy and .*vid2.npy") as raised:
        _run("activitynet", tmp_path, args, on_bad_video="skip")
    assert raised.value.video_id == "vid2" and not (tmp_path / "out").exists()


def test_a_fifo_named_like_a_feature_file_is_refused_not_waited_on(tmp_path, rng):
    args = _anet(tmp_path, rng)
    fifo = os.path.join(args["features_dir"], "vid2.npy")
    os.remove(fifo)
    os.mkfifo(fifo)

    def hung(signum, frame):
        raise TimeoutError("the converter blocked on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        with pytest.raises(BadVideoError, match="FIFO") as raised:
            _run("activitynet", tmp_path, args)
        assert raised.value.video_id == "vid2" and raised.value.path == fifo
        report = _run("activitynet", tmp_path, args, on_bad_video="skip")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [s["video_id"] for s in report.skipped] == ["vid2"]
    assert load_dataset_info(report.output_dir).num_videos("train") + load_dataset_info(report.output_dir).num_videos("test") == 3


def test_a_fifo_named_like_an_annotation_file_is_refused(tmp_path, rng):
    args = _anet(tmp_path, rng)
    os.remove(args["annotation_files"][0])
    os.mkfifo(args["annotation_files"][0])
    previous = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("blocked on the FIFO")))
    signal.alarm(60)
    try:
        with pytest.raises(UserInputError, match="FIFO, expected a regular file"):
            _run("activitynet", tmp_path, args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

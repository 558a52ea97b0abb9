"""`convert --overwrite` replaces only a converted dataset, never an input or a link; leftovers of killed runs."""
import errno
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import iwo_tf.data.dataset_writer as dataset_writer_module
from iwo_tf.data.convert import convert
from iwo_tf.data.dataset_info import dataset_problem
from iwo_tf.data.dataset_writer import DatasetWriter
from iwo_tf.data.schema import VideoRecord
from iwo_tf.errors import UserInputError

from .conftest import STREAM_DIMS, write_per_video


@pytest.fixture
def layout(tmp_path, rng):
    videos = [f"vid{i}" for i in range(4)]
    database = {v: {"subset": "validation" if i % 2 else "training", "duration": 10.0,
                    "annotations": [{"label": "Archery", "segment": [1.0, 2.0]}]} for i, v in enumerate(videos)}
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "anet.json").write_text(json.dumps({"database": database}))
    return {"annotation_files": [str(inputs / "anet.json")], "features_dir": write_per_video(inputs / "features", videos, rng)}


def _convert(output, layout, **options):
    return convert("activitynet", str(output), stream_dims=STREAM_DIMS, progress=False, **layout, **options)


def _leftovers(directory):
    return sorted(name for name in os.listdir(directory) if ".incomplete-" in name)


def test_overwrite_refuses_a_folder_that_is_not_a_converted_dataset(tmp_path, layout):
    unrelated = tmp_path / "photos"
    unrelated.mkdir()
    (unrelated / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(UserInputError, match="not a converted dataset"):
        _convert(unrelated, layout, overwrite=True)
    assert (unrelated / "holiday.jpg").read_bytes() == b"precious"
    (tmp_path / "file.txt").write_text("keep")
    with pytest.raises(UserInputError, match="not a converted dataset"):
        _convert(tmp_path / "file.txt", layout, overwrite=True)
    assert (tmp_path / "file.txt").read_text() == "keep" and _leftovers(tmp_path) == []


@pytest.mark.parametrize("where, message", [
    (lambda tmp, layout: layout["features_dir"], "is the input"),
    (lambda tmp, layout: tmp / "inputs", "contains the input"),
    (lambda tmp, layout: os.path.join(layout["features_dir"], "converted"), "is inside the input"),
])
def test_the_input_is_never_the_output(tmp_path, layout, where, message):
    before = sorted(os.listdir(layout["features_dir"]))
    with pytest.raises(UserInputError, match=message):
        _convert(where(tmp_path, layout), layout, overwrite=True)
    assert sorted(os.listdir(layout["features_dir"])) == before and os.path.isfile(layout["annotation_files"][0])


def test_a_converted_input_folder_holding_dataset_json_is_still_protected(tmp_path, layout):
    # Even a folder that looks like a converted dataset is refused when it holds the inputs.
    (tmp_path / "inputs" / "dataset.json").write_text(json.dumps({"format": "iwo-tf-video-tfrecords"}))
    with pytest.raises(UserInputError, match="contains the input"):
        _convert(tmp_path / "inputs", layout, overwrite=True)
    assert os.path.isdir(layout["features_dir"])


def test_a_symlinked_output_is_refused_and_left_a_link(tmp_path, layout):
    _convert(tmp_path / "real", layout)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UserInputError, match="symbolic link"):
        _convert(tmp_path / "link", layout, overwrite=True)
    assert os.path.islink(tmp_path / "link") and dataset_problem(str(tmp_path / "real")) is None
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UserInputError, match="symbolic link"):
        _convert(tmp_path / "dangling", layout)
    assert not (tmp_path / "nowhere").exists() and _leftovers(tmp_path) == []


def test_overwrite_replaces_a_converted_dataset_and_leaves_nothing_behind(tmp_path, layout):
    _convert(tmp_path / "out", layout)
    (tmp_path / "out" / "marker").write_text("old")
    report = _convert(tmp_path / "out", layout, overwrite=True)
    assert dataset_problem(report.output_dir) is None and not (tmp_path / "out" / "marker").exists()
    assert _leftovers(tmp_path) == []


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _fake_staging(parent, name, owner):
    staging = parent / f".out.incomplete-{name}"
    staging.mkdir()
    (staging / "train-00000-of-00001.tfrecord").write_bytes(b"x" * 100)
    if owner is not None:
        (parent / f".out.incomplete-{name}.owner").write_text(json.dumps(owner))
    return staging


def test_stale_partial_folders_of_killed_runs_are_removed_or_reported(tmp_path, layout, capsys):
    host = socket.gethostname()
    dead = _fake_staging(tmp_path, "dead", {"pid": _dead_pid(), "host": host})
    _convert(tmp_path / "out", layout)
    assert not dead.exists() and not (tmp_path / ".out.incomplete-dead.owner").exists()
    dead = _fake_staging(tmp_path, "dead2", {"pid": _dead_pid(), "host": host})
    (tmp_path / ".out.incomplete-dead2.old").mkdir()  # the dataset it was replacing; out exists, so it is superseded
    unowned = _fake_staging(tmp_path, "unowned", None)
    live = _fake_staging(tmp_path, "live", {"pid": os.getpid(), "host": host})
    other_host = _fake_staging(tmp_path, "remote", {"pid": _dead_pid(), "host": host + "-elsewhere"})
    capsys.readouterr()
    _convert(tmp_path / "out", layout, overwrite=True)
    err = capsys.readouterr().err
    assert not dead.exists() and not (tmp_path / ".out.incomplete-dead2.old").exists()
    for kept in (unowned, live, other_host):
        assert kept.exists() and str(kept) in err
    assert "cannot be proven stale" in err and "running process" in err and "elsewhere" in err


def test_a_killed_replacement_keeps_the_previous_dataset(tmp_path, layout, capsys):
    _convert(tmp_path / "first", layout)
    os.rename(tmp_path / "first", tmp_path / ".out.incomplete-k.old")  # killed between the two renames
    _fake_staging(tmp_path, "k", {"pid": _dead_pid(), "host": socket.gethostname()})
    _convert(tmp_path / "out", layout)
    assert "rename it back" in capsys.readouterr().err
    assert dataset_problem(str(tmp_path / ".out.incomplete-k.old")) is None


def test_a_failure_inside_finish_aborts_and_cleans_up(tmp_path, layout, monkeypatch):
    def disk_full(path, document, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(dataset_writer_module, "write_json_atomic", disk_full)
    with pytest.raises(OSError, match="No space left"):
        _convert(tmp_path / "out", layout)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []
    with pytest.raises(OSError, match="No space left"):
        with DatasetWriter(str(tmp_path / "direct"), ["a"], [2], {"train": 1}) as writer:
            writer.add(VideoRecord("x", "train", [0], 1.0, 0.5, np.zeros((2, 2))))
    assert not (tmp_path / "direct").exists() and _leftovers(tmp_path) == []


def test_output_files_follow_the_umask(tmp_path, layout):
    old = os.umask(0o022)
    try:
        report = _convert(tmp_path / "out", layout)
    finally:
        os.umask(old)
    for name in os.listdir(report.output_dir):
        assert os.stat(os.path.join(report.output_dir, name)).st_mode & 0o777 == 0o644, name


@pytest.mark.slow
def test_cli_refuses_the_input_as_output_in_one_line(tmp_path, layout):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "iwo_tf.data.convert", "--layout=activitynet", f"--annotations={layout['annotation_files'][0]}",
               f"--features_dir={layout['features_dir']}", f"--output={layout['features_dir']}", "--overwrite", "--stream_dims=4,4",
               "--noprogress"]
    result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(errors) == 1 and "is the input" in errors[0]
    assert len(os.listdir(layout["features_dir"])) == 4

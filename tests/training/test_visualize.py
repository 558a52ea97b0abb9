"""`python -m iwo_tf.visualize` end to end: a tiny trained run and its export drawn to PNGs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.training.conftest import REPO, run_train, subprocess_env
from iwo_tf.visualization.localization_figure import PANEL_PX, TITLE_PX

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_run(tiny_data_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vis") / "run"
    result = run_train(tiny_data_dir, workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return str(workdir)


def _visualize(*flags):
    return subprocess.run([sys.executable, "-m", "iwo_tf.visualize", *flags], cwd=str(REPO), env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)


def _test_ids(data_dir):
    with open(os.path.join(data_dir, "ground_truth.json")) as f:
        database = json.load(f)["database"]
    return sorted(v for v, item in database.items() if item["subset"] == "test")


def test_one_video_and_a_contact_sheet_from_a_run(trained_run, tiny_data_dir, tmp_path):
    video = _test_ids(tiny_data_dir)[2]
    one = tmp_path / "one.png"
    result = _visualize(f"--workdir={trained_run}", f"--video={video}", f"--output={one}")
    assert result.returncode == 0, result.stderr[-3000:]
    # top_q = 2 of the tiny run's 4 classes: two class panels per video.
    assert Image.open(one).size == (1400, TITLE_PX + 2 * PANEL_PX)
    sheet = tmp_path / "sheet.png"
    result = _visualize(f"--workdir={trained_run}", "--videos=3", "--width=1000", f"--output={sheet}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(sheet).size == (1000, 3 * (TITLE_PX + 2 * PANEL_PX))
    assert not list(tmp_path.glob(".*tmp*"))


def test_the_drawn_detections_are_the_runs_detections(trained_run, tiny_data_dir):
    from iwo_tf.visualization import localize_for_display
    from iwo_tf.visualization.model_sources import load_run, run_video_batches

    model, class_names, settings, data_dir = load_run(trained_run)
    ids = _test_ids(tiny_data_dir)
    with open(os.path.join(trained_run, "detections", "step2_wo_testing.json")) as f:
        written = json.load(f)["results"]
    drawn = 0
    for batch in run_video_batches(model, data_dir, "test", ids):
        for video in localize_for_display(model, batch, class_names=class_names, settings=settings):
            expected = sorted((d["label"], round(d["score"], 5)) for d in written[video.video_id])
            got = sorted((t.class_name, round(score, 5)) for t in video.tracks for _, _, score in t.detections)
            assert got == expected, video.video_id
            for track in video.tracks:
                steps = track.selection_step
                assert steps.max() == settings["num_steps"] - 1
                # every step took p segments (the video has more than num_steps * p segments)
                assert all(np.sum(steps == s) == settings["segments_per_step"] for s in range(settings["num_steps"]))
            drawn += 1
    assert drawn == len(ids)


def test_from_a_saved_model_and_a_features_file(trained_run, tmp_path):
    features = tmp_path / "my_video.npy"
    np.save(features, np.random.default_rng(0).normal(size=(75, 32)).astype(np.float32))
    output = tmp_path / "saved.png"
    result = _visualize(f"--saved_model={trained_run}/export/iwo", f"--features={features}", "--width=900",
                        f"--output={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(output).size == (900, TITLE_PX + 2 * PANEL_PX)


def test_user_errors_are_one_line_and_write_nothing(trained_run, tmp_path):
    output = tmp_path / "never.png"
    result = _visualize(f"--workdir={trained_run}", "--video=no_such_video", f"--output={output}")
    assert result.returncode == 2
    assert "no video 'no_such_video' in the 'test' subset" in result.stderr
    assert "Traceback" not in result.stderr
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((10, 7), np.float32))
    result = _visualize(f"--saved_model={trained_run}/export/iwo", f"--features={bad}", f"--output={output}")
    assert result.returncode == 2 and f"{bad}: video 'bad': features have D=7, expected 32" in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "not a valid .npy file"),
    (lambda p: p.write_text("1,2,3\n"), "not a valid .npy file"),
    (lambda p: np.save(p, np.zeros((4, 32), np.complex64)), "features have dtype complex64"),
    (lambda p: np.save(p, np.array([["a"] * 32] * 4)), "features have dtype <U1"),
    (lambda p: np.save(p, np.array([[1.0] * 32, [np.nan] * 32], np.float32)), "hold NaN or Inf"),
    (lambda p: np.save(p, np.zeros((0, 32), np.float32)), "zero snippets"),
    (lambda p: np.save(p, np.array([None] * 4, dtype=object)), "refused: an object array"),
])
def test_feature_files_are_checked_as_the_converter_checks_them(tmp_path, make, message):
    from iwo_tf.errors import UserInputError
    from iwo_tf.visualization.model_sources import npy_video_batch

    path = tmp_path / "video.npy"
    make(path)
    with pytest.raises(UserInputError, match=message) as raised:
        npy_video_batch(str(path), num_segments=8, stream_dims=(16, 16), snippet_stride_sec=1.0, duration=0.0)
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)


@pytest.mark.parametrize("width", ["0", "-5", "100000"])
def test_an_image_width_outside_300_to_20000_is_refused_in_one_line(tmp_path, width):
    result = _visualize(f"--workdir={tmp_path}", "--videos=1", f"--width={width}", f"--output={tmp_path / 'x.png'}")
    assert result.returncode == 1 and f"flag --width={width}: {width} is not an integer in the range [300, 20000]" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.png").exists()

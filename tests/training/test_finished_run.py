"""A finished run read back (the one reader of run_config.json + model.keras) and its atomic model writer."""
import json
import os

import numpy as np
import pytest

from iwo_tf.errors import UserInputError
from iwo_tf.model import IWOClassifier
from iwo_tf.training.finished_run import FinishedRun, save_final_model


def _model():
    model = IWOClassifier(num_classes=3, num_segments=8, stream_dims=(4, 4), num_modules=2, dropout_rate=0.0)
    model.build()
    return model


def _run(tmp_path, document=None, with_model=True):
    workdir = tmp_path / "run"
    workdir.mkdir()
    document = {"data_dir": "/data/x", "class_names": ["a", "b", "c"]} if document is None else document
    (workdir / "run_config.json").write_text(json.dumps(document))
    model = _model()
    if with_model:
        save_final_model(model, str(workdir / "model.keras"))
    return workdir, model


def test_a_finished_run_gives_its_model_data_and_settings(tmp_path):
    workdir, model = _run(tmp_path, {"data_dir": "/d", "class_names": ["a", "b", "c"], "localization": {"num_steps": 3},
                                     "serving": {"top_q": 1}})
    run = FinishedRun(str(workdir))
    loaded = run.load_model()
    for saved, read in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), read.numpy())
    assert run.data_dir == "/d" and run.class_names(3) == ["a", "b", "c"]
    assert run.localization_settings == {"num_steps": 3} and run.serving_settings == {"top_q": 1}


def test_older_runs_fall_back_to_their_localization_block_config_data_dir_and_numbered_classes(tmp_path):
    workdir, _ = _run(tmp_path, {"config": {"data_dir": "/old"}, "localization": {"num_steps": 2}})
    run = FinishedRun(str(workdir))
    assert run.data_dir == "/old" and run.class_names(3) == ["0", "1", "2"]
    assert run.serving_settings == {"num_steps": 2}


def test_no_run_and_an_unfinished_run_are_one_line_errors_naming_the_file(tmp_path):
    with pytest.raises(UserInputError, match=r"run_config.json: not found .*not a training run"):
        FinishedRun(str(tmp_path / "nothing"))
    workdir, _ = _run(tmp_path, with_model=False)
    with pytest.raises(UserInputError, match=r"model.keras: not found \(the run in .* has not finished"):
        FinishedRun(str(workdir))


@pytest.mark.parametrize("content, message", [("[1, 2]", "expected a JSON object, got list"), ("{", "not valid JSON")])
def test_a_run_config_that_is_not_a_json_object_is_refused(tmp_path, content, message):
    workdir, _ = _run(tmp_path)
    (workdir / "run_config.json").write_text(content)
    with pytest.raises(UserInputError, match=message):
        FinishedRun(str(workdir))


def test_wrong_class_names_missing_data_dir_and_a_corrupt_model_are_refused(tmp_path):
    workdir, _ = _run(tmp_path, {"class_names": ["a", "b"]})
    run = FinishedRun(str(workdir))
    with pytest.raises(UserInputError, match="2 class names for a model of 3 classes"):
        run.class_names(3)
    with pytest.raises(UserInputError, match="records no data_dir"):
        run.data_dir
    (workdir / "model.keras").write_bytes(b"not a zip archive")
    with pytest.raises(UserInputError, match="model.keras: not a readable Keras model"):
        run.load_model()


def test_the_final_model_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"precious")
    path = tmp_path / "model.keras"
    os.symlink(outside, path)
    save_final_model(_model(), str(path))
    assert outside.read_bytes() == b"precious"
    assert not path.is_symlink() and path.stat().st_size > 1000
    assert sorted(os.listdir(tmp_path)) == ["model.keras", "outside.bin"]  # no temporary left


def test_a_failed_save_leaves_the_previous_model_whole(tmp_path, monkeypatch):
    path = tmp_path / "model.keras"
    model = _model()
    save_final_model(model, str(path))
    before = path.read_bytes()

    def broken_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(type(model), "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_final_model(model, str(path))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.keras"]

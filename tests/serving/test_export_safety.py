"""Export paths: refused model names, folders that leave --export_base, symlinks, killed exports' litter,
and nothing of the training host in the export."""
import json
import os
import subprocess
import sys

import pytest

from iwo_tf.errors import UserInputError
from iwo_tf.serving import clean_stale_temporaries, export_saved_model, portable_provenance, write_models_config
from tests.serving.conftest import CLASS_NAMES, make_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "../evil", "/abs", "x y", "naïve", "a\\b"])
def test_bad_model_names_are_refused_before_anything_is_written(tmp_path, name):
    base = tmp_path / "base"
    with pytest.raises(UserInputError, match="model name"):
        export_saved_model(make_model(), class_names=CLASS_NAMES, export_base=str(base), model_name=name)
    assert os.listdir(tmp_path) == []
    with pytest.raises(UserInputError, match="model name"):
        write_models_config(str(tmp_path), name)


def test_model_folder_symlinked_outside_the_base_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "base"
    base.mkdir()
    (base / "iwo").symlink_to(outside)
    with pytest.raises(UserInputError, match="symbolic link"):
        export_saved_model(make_model(), class_names=CLASS_NAMES, export_base=str(base), model_name="iwo")
    assert os.listdir(outside) == []


def test_models_config_symlink_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("model_config_list {\n}\n")
    (tmp_path / "models.config").symlink_to(victim)
    write_models_config(str(tmp_path), "iwo")
    assert victim.read_text() == "model_config_list {\n}\n"
    assert not (tmp_path / "models.config").is_symlink()
    assert 'base_path: "/models/iwo"' in (tmp_path / "models.config").read_text()


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_temporaries_of_killed_exports_are_removed_or_reported(tmp_path):
    import socket
    import re

    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())
    model_dir = tmp_path / "iwo"
    stale = model_dir / f".tmp-{host}-{_dead_pid()}-0123abcd"
    (stale / "variables").mkdir(parents=True)
    running = model_dir / f".tmp-{host}-{os.getpid() + 0}-feedbeef"  # this very process: alive
    running.mkdir()
    old_style = model_dir / ".tmp-9f8e7d6c5b4a"  # an older export's name: no pid to check
    old_style.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (model_dir / f".tmp-{host}-{_dead_pid()}-00ff").symlink_to(outside)
    removed, reported = clean_stale_temporaries(str(model_dir))
    assert removed == [str(stale)] and not stale.exists()
    assert str(running) in reported and str(old_style) in reported and running.exists() and old_style.exists()
    assert outside.exists()


@pytest.mark.slow
def test_export_cleans_a_killed_exports_temporary_and_publishes(tmp_path):
    import socket
    import re

    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())
    stale = tmp_path / "m" / f".tmp-{host}-{_dead_pid()}-aa"
    stale.mkdir(parents=True)
    path = export_saved_model(
        make_model(), class_names=CLASS_NAMES, export_base=str(tmp_path), model_name="m", num_steps=2,
        segments_per_step=2,
    )
    assert sorted(os.listdir(tmp_path / "m")) == ["1"] and path == str(tmp_path / "m" / "1")


def test_portable_provenance_drops_host_paths():
    config = {"data_dir": "/home/me/data/thumos14/", "nested": [{"p": "~/x/y"}, "C:\\runs\\a"], "lr": 0.1, "rel": "runs/a"}
    assert portable_provenance(config) == {"data_dir": "thumos14", "nested": [{"p": "y"}, "a"], "lr": 0.1, "rel": "runs/a"}


@pytest.mark.slow
def test_training_export_has_no_host_paths_and_default_models_base(workdir, tmp_path):
    """The export train.py writes (`export_run(workdir, export_base, name)`) is servable as documented."""
    from iwo_tf.serving import export_run

    run_config = json.loads((workdir / "run_config.json").read_text())
    run_config["data_dir"] = str(workdir / "data")
    run_config["config"] = {"data_dir": str(workdir / "data"), "workdir": str(workdir)}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run_config.json").write_text(json.dumps(run_config))
    os.symlink(workdir / "model.keras", tmp_path / "run" / "model.keras")
    version_dir = export_run(str(tmp_path / "run"), str(tmp_path / "export"), "iwo")
    config_text = (tmp_path / "export" / "models.config").read_text()
    assert 'base_path: "/models/iwo"' in config_text
    for root, _, files in os.walk(version_dir):
        for name in files:
            if name.endswith((".json", ".config", ".txt")) or "assets" in root:
                text = open(os.path.join(root, name), "rb").read().decode("utf-8", "replace")
                assert str(tmp_path) not in text and str(workdir) not in text, os.path.join(root, name)
    metadata = json.loads(open(os.path.join(version_dir, "assets.extra", "iwo_export.json")).read())
    assert metadata["extra"]["run_config"]["data_dir"] == "data"
    assert "workdir" not in metadata["extra"]
    custom = export_run(str(tmp_path / "run"), str(tmp_path / "export"), "iwo", serving_base_path="/srv/models")
    assert os.path.basename(custom) == "2"
    assert 'base_path: "/srv/models/iwo"' in (tmp_path / "export" / "models.config").read_text()


@pytest.mark.slow
def test_export_cli_refuses_dot_dot_with_one_line(workdir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "export.export_saved_model", f"--workdir={workdir}", f"--export_base={tmp_path / 'b'}",
         "--model_name=.."],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error: ")][0].startswith("error: model name '..'")
    assert not os.path.exists(tmp_path / "models.config")


def test_stream_weights_must_give_one_weight_per_stream(tmp_path):
    from iwo_tf.model import IWOClassifier

    model = IWOClassifier(num_classes=3, num_segments=8, stream_dims=(4, 4), num_modules=2, dropout_rate=0.0)
    model.build()
    with pytest.raises(UserInputError, match=r"stream_weights has 1 values for a model of 2 streams"):
        export_saved_model(model, class_names=["a", "b", "c"], export_base=str(tmp_path / "exp"), model_name="iwo",
                           stream_weights=(1.0,))
    assert not list((tmp_path / "exp").glob("iwo/[0-9]*"))

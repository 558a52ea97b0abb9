"""train.py end to end: run output off a terminal, evaluate mode, TensorBoard axes and HParams, the p=0
control, the fair single-step baseline, the learning-rate schedule switch and the convergence guard."""
import json
import os
import re
import subprocess

import pytest
import tensorflow as tf

from tests.training.conftest import REPO, TINY_OVERRIDES, run_train, subprocess_env, train_command

pytestmark = pytest.mark.slow
EPOCHS = TINY_OVERRIDES["winners_out.epochs_per_step"]
STEPS = TINY_OVERRIDES["winners_out.train_steps"]
ANSI = re.compile(r"\x1b\[|\r|\x08")


def _read(path):
    with open(path) as f:
        return json.load(f)


def _events(directory):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(str(directory), size_guidance={"tensors": 0, "images": 0})
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def plain_run(tiny_data_dir, tmp_path_factory):
    """The default tiny run, its stdout piped (not a terminal), as a CI log would get it."""
    workdir = tmp_path_factory.mktemp("features") / "run"
    result = run_train(tiny_data_dir, workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, result


def test_output_off_a_terminal_is_plain_one_line_per_epoch_with_stages_map_eta_and_closing_block(plain_run):
    workdir, result = plain_run
    out = result.stdout
    assert not ANSI.search(out), "ANSI codes or carriage returns in piped output"
    lines = out.splitlines()
    epoch_lines = [line for line in lines if re.match(r"WO step \d/\d, epoch \d+/\d+: loss ", line)]
    assert len(epoch_lines) == STEPS * EPOCHS
    assert all(len(line) < 200 for line in epoch_lines)
    assert "run ETA" in epoch_lines[0]
    for stage in ("removal", "testing", "evaluation", "figures", "export"):
        assert any(re.match(rf"\[\s*\S+\] {stage} \(.*\): \d+\.\d s", line) for line in lines), stage
    # Step 1's mAP is printed as soon as it is known: before step 2's first epoch.
    first_map = next(i for i, line in enumerate(lines) if "WO-step 1, winners-out testing: avg mAP" in line)
    step2 = next(i for i, line in enumerate(lines) if line.startswith("WO step 2/2, epoch 1/"))
    assert first_map < step2
    block = lines[next(i for i, line in enumerate(lines) if "Written under" in line):]
    for entry in ("results.json", "detections/", "figures/", "tensorboard/", "model.keras", "export/"):
        assert any(line.strip().startswith(entry) for line in block), entry
    assert "use_unbounded_threadpool" not in result.stderr


def test_tensorboard_test_scalars_are_on_the_epoch_axis_with_config_text_and_hparams(plain_run):
    from tensorboard.plugins.hparams import metadata

    workdir, _ = plain_run
    test = _events(workdir / "tensorboard" / "test")
    assert [e.step for e in test.Tensors("wo_testing/average_mAP")] == [EPOCHS * s for s in range(1, STEPS + 1)]
    train = _events(workdir / "tensorboard" / "train")
    assert [e.step for e in train.Tensors("loss/total")][-1] == EPOCHS * STEPS  # same axis as training
    final = float(tf.make_ndarray(test.Tensors("wo_testing/average_mAP")[-1].tensor_proto))
    assert final == pytest.approx(_read(workdir / "results.json")["final"]["wo_testing"]["average_mAP"], abs=1e-6)
    root = _events(workdir / "tensorboard")
    assert "config" in root.Tags()["tensors"]
    content = root.PluginTagToContent(metadata.PLUGIN_NAME)
    session = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert session.hparams["data.num_segments"].number_value == TINY_OVERRIDES["data.num_segments"]


def test_fair_single_step_baseline_selects_what_winners_out_testing_selects_in_total(plain_run):
    workdir, _ = plain_run
    rows = _read(workdir / "results.json")["rows"]
    assert f"WO-step {STEPS}, single-step testing" in rows and f"WO-step {STEPS}, single-step testing (1 x p)" in rows
    fair = _read(workdir / "detections" / f"step{STEPS}_single_step_testing.json")["external_data"]
    named = _read(workdir / "detections" / f"step{STEPS}_single_step_p.json")["external_data"]
    p, n = TINY_OVERRIDES["testing.segments_per_step"], TINY_OVERRIDES["testing.num_steps"]
    assert (fair["testing_steps"], fair["segments_per_step"]) == (1, n * p)
    assert (named["testing_steps"], named["segments_per_step"]) == (1, p)


def test_evaluate_mode_reproduces_the_runs_numbers_without_training(plain_run, tiny_data_dir):
    workdir, _ = plain_run
    checkpoints = sorted(os.listdir(workdir / "checkpoints"))
    result = subprocess.run(train_command(tiny_data_dir, workdir, "--mode=evaluate"), cwd=str(REPO),
                            env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "epoch 1/" not in result.stdout  # no training
    assert sorted(os.listdir(workdir / "checkpoints")) == checkpoints
    evaluated = _read(workdir / "evaluation" / "results.json")
    trained = _read(workdir / "results.json")
    assert evaluated["final"] == trained["final"]  # both testing modes, to the last digit
    assert (workdir / "evaluation" / "detections" / f"step{STEPS}_wo_testing.json").exists()
    assert list((workdir / "evaluation" / "figures").glob("*.png"))


def test_evaluate_mode_into_a_file_is_a_one_line_error(plain_run, tiny_data_dir, tmp_path):
    workdir, _ = plain_run
    (tmp_path / "a_file").write_text("keep")
    result = subprocess.run(train_command(tiny_data_dir, workdir, "--mode=evaluate", f"--output_dir={tmp_path / 'a_file'}"),
                            cwd=str(REPO), env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"cannot create this directory: {tmp_path / 'a_file'} is not a directory" in result.stderr
    assert (tmp_path / "a_file").read_text() == "keep"


def test_evaluate_mode_on_an_empty_workdir_is_a_one_line_error(tiny_data_dir, tmp_path):
    result = subprocess.run(train_command(tiny_data_dir, tmp_path / "nothing", "--mode=evaluate"), cwd=str(REPO),
                            env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no finished training run" in result.stderr


def test_control_run_and_global_schedule(tiny_data_dir, tmp_path):
    workdir = tmp_path / "control"
    result = run_train(tiny_data_dir, workdir, winners_out__control=True, optimizer__schedule="global",
                       optimizer__decay_every_epochs=2)
    assert result.returncode == 0, result.stderr[-4000:]
    results = _read(workdir / "results.json")
    assert f"WO-step {STEPS} control (p=0), winners-out testing" in results["rows"]
    assert "WO-step 1 control (p=0), winners-out testing" not in results["rows"]
    assert f"WO-step {STEPS} control (p=0), winners-out testing" in result.stdout  # in the final table
    assert results["control"]["step1_identical"] is True  # same data, seed and schedule
    control_masks = _read(workdir / "control_p0" / "masks" / "step_001.json")
    assert "control_p0" in results["control"]["workdir"] and control_masks
    train = _events(workdir / "tensorboard" / "train")
    rates = {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in train.Tensors("learning_rate")}
    # global: epoch 4 (step 2, epoch 1) continues the decay; restart_per_step would give 0.05 again
    assert rates[1] == pytest.approx(0.05) and rates[EPOCHS + 1] == pytest.approx(0.05 * 0.1 ** (EPOCHS // 2))


def test_convergence_guard_fires_on_an_untrainable_config(tiny_data_dir, tmp_path):
    workdir = tmp_path / "stuck"
    result = run_train(tiny_data_dir, workdir, optimizer__learning_rate=1e-7, winners_out__train_steps=1,
                       convergence_guard__after_epochs=2)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "NOT LEARNING: after 2 epoch(s)" in result.stderr
    assert "--config.optimizer.name=adam" in result.stderr
    train = _events(workdir / "tensorboard" / "train")
    assert [e.step for e in train.Tensors("convergence_guard")] == [2]

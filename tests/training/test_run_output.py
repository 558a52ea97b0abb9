"""Run output: plain one-line epochs off a terminal (no ANSI codes), stage lines, ETA, closing block."""
import io
import re

import pytest

from iwo_tf.training.run_output import RunOutput, closing_block, epoch_line, format_duration, map_line

ANSI = re.compile(r"\x1b\[|\r|\x08")
LOGS = {"loss/total": 2.0491, "loss/cross_entropy": 1.3752, "accuracy": 0.45, "learning_rate": 0.05}


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_format_duration():
    assert [format_duration(s) for s in (0, 42.4, 185, 3720)] == ["0s", "42s", "3m05s", "1h02m"]


def test_epoch_line_is_one_plain_line():
    line = epoch_line(1, 2, 3, 24, LOGS, 1.24, 185.0)
    assert line == "WO step 1/2, epoch 3/24: loss 2.0491, ce 1.3752, accuracy 0.450, lr 0.05 (1.2 s; run ETA 3m05s)"


def test_off_a_terminal_every_epoch_is_one_line_without_ansi_codes_and_the_eta_counts_stages():
    stream, clock = io.StringIO(), Clock()
    output = RunOutput(total_epochs=4, stream=stream, clock=clock)
    assert not output.is_tty
    output.expect("testing", 2)
    for epoch in (1, 2):
        assert output.epoch_started(1, 2, epoch, 2, steps=3) is None  # no progress bar
        clock.now += 10
        output.epoch_finished(1, 2, epoch, 2, LOGS)
    assert output.eta_seconds() == pytest.approx(20.0)  # 2 epochs x 10 s; testing not timed yet
    with output.stage("testing", "WO step 1"):
        clock.now += 6
    assert output.eta_seconds() == pytest.approx(26.0)  # + one more testing of 6 s
    output.step_map("WO-step 1, winners-out testing", {"mAP": [0.422, 0.172], "average_mAP": 0.297}, (0.1, 0.3))
    text = stream.getvalue()
    assert not ANSI.search(text)
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("WO step 1/2, epoch 1/2: loss 2.0491") and lines[0].endswith("run ETA 30s)")
    assert lines[2] == "[   26s] testing (WO step 1): 6.0 s; run ETA 26s"
    assert lines[3] == "  WO-step 1, winners-out testing: avg mAP 29.7 (0.10: 42.2, 0.30: 17.2)"


def test_on_a_terminal_epochs_get_a_progress_bar_and_disabled_output_prints_nothing():
    stream = io.StringIO()
    output = RunOutput(total_epochs=1, stream=stream, is_tty=True)
    assert output.epoch_started(1, 1, 1, 1, steps=2) is not None
    quiet = io.StringIO()
    silent = RunOutput(total_epochs=1, stream=quiet, enabled=False)
    silent.epoch_started(1, 1, 1, 1, steps=2)
    silent.epoch_finished(1, 1, 1, 1, LOGS)
    with silent.stage("removal"):
        pass
    assert quiet.getvalue() == ""


def test_map_line_and_closing_block_list_only_what_exists(tmp_path):
    assert map_line("x", {"mAP": [0.5], "average_mAP": 0.5}, [0.5]) == "x: avg mAP 50.0 (0.50: 50.0)"
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "detections").mkdir()
    block = closing_block(str(tmp_path), [("results.json", "the table"), ("detections/", "per step"),
                                          ("export/iwo/1", "SavedModel")], seconds=65)
    assert block.splitlines() == [f"Run finished in 1m05s. Written under {tmp_path}:",
                                  "  results.json  the table", "  detections/   per step"]


def test_plan_of_a_resumed_run_leaves_out_what_was_done():
    clock = Clock()
    output = RunOutput(total_epochs=2 * 4, stream=io.StringIO(), clock=clock)
    output.plan(train_steps=2, epochs_per_step=4, done=(1, 1), every_step=True, testing_modes=3)
    assert output.total_epochs == 3
    assert output.stages_left == {"testing": 3, "evaluation": 3, "figures": 1, "removal": 0}
    output.epoch_started(2, 2, 2, 4, steps=1)
    clock.now += 5
    output.epoch_finished(2, 2, 2, 4, LOGS)
    assert output.eta_seconds() == pytest.approx(10.0)

"""The p=0 control: its config and how its rows join the main run's table."""
import pytest

from iwo_tf.training.controls import control_config, merge_control


def _metrics(value):
    return {"mAP": [value, value], "average_mAP": value}


def _rows(values):
    rows = {}
    for step, (wo, single) in enumerate(values, start=1):
        rows[f"WO-step {step}, winners-out testing"] = _metrics(wo)
        rows[f"WO-step {step}, single-step testing"] = _metrics(single)
    return rows


def test_control_config_turns_removal_off_and_keeps_everything_else():
    from configs import synthetic

    config = synthetic.get_config()
    with config.unlocked():
        config.winners_out.control = True
    control = control_config(config)
    assert control.winners_out.segments_per_step == 0
    assert control.winners_out.control is False and control.export.enabled is False
    assert config.winners_out.segments_per_step == 15 and config.winners_out.control is True  # untouched
    for section in ("data", "model", "optimizer", "testing"):
        assert control[section].to_dict() == config[section].to_dict()
    assert (control.seed, control.winners_out.train_steps, control.winners_out.epochs_per_step) == (
        config.seed, config.winners_out.train_steps, config.winners_out.epochs_per_step)


def test_control_rows_follow_each_step_from_step_2_on():
    main = {"rows": _rows([(0.2, 0.1), (0.3, 0.15), (0.25, 0.12)]), "final": {"wo_testing": _metrics(0.25)}}
    control = {"rows": _rows([(0.2, 0.1), (0.35, 0.2), (0.4, 0.22)]), "final": {"wo_testing": _metrics(0.4)}}
    merged = merge_control(main, control)
    assert list(merged["rows"]) == [
        "WO-step 1, winners-out testing", "WO-step 1, single-step testing",
        "WO-step 2, winners-out testing", "WO-step 2, single-step testing",
        "WO-step 2 control (p=0), winners-out testing", "WO-step 2 control (p=0), single-step testing",
        "WO-step 3, winners-out testing", "WO-step 3, single-step testing",
        "WO-step 3 control (p=0), winners-out testing", "WO-step 3 control (p=0), single-step testing",
    ]
    assert merged["rows"]["WO-step 3 control (p=0), winners-out testing"]["average_mAP"] == pytest.approx(0.4)
    assert merged["final"] == main["final"]  # the run's own model stays the result
    assert merged["control"] == {"workdir": "control_p0", "final": control["final"], "step1_identical": True}
    control["rows"]["WO-step 1, winners-out testing"] = _metrics(0.21)
    assert merge_control(main, control)["control"]["step1_identical"] is False

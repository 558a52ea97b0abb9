"""The p=0 control of winners-out training (`--config.winners_out.control=true`).

A claim that winners-out TRAINING helps needs its control: the same data, seed, schedule and epochs
with removal off (p = 0). Step 2 of a run also trains longer than step 1; without the control that is
what a step-2 gain would measure. The control is a second run in `<workdir>/control_p0` (its own
checkpoints, masks, metrics: resumable like any run); its step-k rows (k > 1) join the main run's
results.json and final table as `WO-step k control (p=0), <testing mode>`. Its step 1 is the main
run's step 1 (nothing has been removed yet, and runs are deterministic), which results.json reports
as a check.
"""
from __future__ import annotations

import os
from typing import Mapping

CONTROL_DIR = "control_p0"


def control_config(config):
    """The control's config: `config` with p = 0, no control of its own and no export."""
    control = config.copy_and_resolve_references()
    with control.unlocked():
        control.winners_out.segments_per_step = 0
        control.winners_out.control = False
        control.export.enabled = False
    return control


def control_workdir(workdir: str) -> str:
    """Where the control run of the run in `workdir` lives."""
    return os.path.join(workdir, CONTROL_DIR)


def _step_of(label: str) -> int:
    return int(label.split(",")[0].split()[1])


def merge_control(summary: Mapping, control: Mapping) -> dict:
    """The main run's results.json document with the control's rows of steps > 1 after each step's rows.

    Args:
        summary: the main run's results.json document.
        control: the control run's results.json document.

    Returns:
        A new document: `rows` gains `WO-step k control (p=0), <mode>` for k > 1, and `control` holds
        the control's directory, its final metrics and whether its step 1 equals the main run's.
    """
    control_rows = {}
    for label, metrics in control["rows"].items():
        step = _step_of(label)
        if step > 1:
            head, mode = label.split(", ", 1)
            control_rows.setdefault(step, {})[f"{head} control (p=0), {mode}"] = metrics
    rows = {}
    labels = list(summary["rows"])
    for i, label in enumerate(labels):
        rows[label] = summary["rows"][label]
        step = _step_of(label)
        if i + 1 == len(labels) or _step_of(labels[i + 1]) != step:
            rows.update(control_rows.pop(step, {}))
    for step in sorted(control_rows):
        rows.update(control_rows[step])
    step1 = [label for label in summary["rows"] if _step_of(label) == 1]
    same_step1 = bool(step1) and all(
        control["rows"].get(label, {}).get("mAP") == summary["rows"][label]["mAP"] for label in step1
    )
    document = dict(summary)
    document["rows"] = rows
    document["control"] = {"workdir": CONTROL_DIR, "final": control["final"], "step1_identical": same_step1}
    return document

"""What `train.py` runs: the training run, its optional p=0 control, the export, the closing block."""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

from iwo_tf.training.controls import control_config, control_workdir, merge_control
from iwo_tf.training.evaluation_runs import format_map_table
from iwo_tf.training.run_dir import RunDir
from iwo_tf.training.run_output import closing_block
from iwo_tf.training.strategy import is_chief


def train_with_control(config, workdir: str, strategy):
    """Trains the run and, with `config.winners_out.control` and more than one step, its p=0 control.

    Returns:
        `(summary, trainer)`: the results.json document (with the control's rows) and the main trainer.
    """
    from iwo_tf.training.trainer import WinnersOutTrainer

    trainer = WinnersOutTrainer(config, workdir, strategy)
    with_control = bool(config.winners_out.get("control", False)) and int(config.winners_out.train_steps) > 1
    if with_control:  # the run's ETA counts the control's epochs too
        trainer.output.total_epochs += int(config.winners_out.train_steps) * int(config.winners_out.epochs_per_step)
    summary = trainer.run()
    if not config.winners_out.get("control", False):
        return summary, trainer
    output = trainer.output
    if with_control:
        output.print(f"\nThe p=0 control (same data, seed, schedule and epochs; no removal) in {control_workdir(workdir)}")
        control = WinnersOutTrainer(control_config(config), control_workdir(workdir), strategy)
        control.output.start = output.start
        control_summary = control.run()
        if is_chief(strategy):
            summary = merge_control(summary, control_summary)
            RunDir(workdir).write_results(summary)
            if not summary["control"]["step1_identical"]:
                output.print("warning: the control's step 1 differs from the run's step 1 (they should be identical)")
    output.print("\nmAP (%) on the test split at tIoU thresholds:")
    output.print(format_map_table(summary["rows"], config.testing.tiou_thresholds))
    return summary, trainer


def output_entries(workdir: str, export_dir: Optional[str]) -> List[Tuple[str, str]]:
    """What a finished run wrote, for the closing block (paths relative to the workdir where inside it)."""
    tensorboard = os.path.join(os.path.abspath(workdir), "tensorboard")
    entries = [
        ("results.json", "the final table: mAP per winners-out step and testing mode"),
        ("detections/", "ActivityNet-format detections per step and testing mode"),
        ("metrics/", "mAP per step and testing mode"),
        ("figures/", "CSC curves of a few test videos (python -m iwo_tf.visualize draws any video)"),
        ("tensorboard/", f"tensorboard --logdir {tensorboard}"),
        ("model.keras", "the final model (the last winners-out step)"),
        ("control_p0/", "the p=0 control run"),
        ("evaluation/", "the final checkpoint evaluated again (--mode=evaluate)"),
    ]
    if export_dir:
        inside = os.path.abspath(export_dir).startswith(os.path.abspath(workdir) + os.sep)
        path = os.path.relpath(export_dir, workdir) if inside else os.path.abspath(export_dir)
        entries.append((path, "the SavedModel for TF Serving (see export/README.md)"))
    return entries


def print_closing_block(output, workdir: str, export_dir: Optional[str], seconds: float) -> None:
    """Prints where everything was written."""
    output.print("")
    output.print(closing_block(workdir, output_entries(workdir, export_dir), seconds))

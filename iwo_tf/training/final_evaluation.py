"""`python train.py --mode=evaluate`: the final checkpoint of a finished run tested again, without training.

The run's own config (run_config.json) and its last checkpoint are used, so the numbers are the run's
(the computation is deterministic). Both testing modes, the figures and a results.json go to
`<workdir>/evaluation/` by default: nothing the run wrote is overwritten.
"""
from __future__ import annotations

import time

import ml_collections
import tensorflow as tf

from iwo_tf.errors import UserInputError
from iwo_tf.io import makedirs
from iwo_tf.training.evaluation_runs import format_map_table, results_summary
from iwo_tf.training.run_dir import RunDir

EVALUATION_DIR = "evaluation"


def run_config_of(workdir: str, data_dir: str | None = None):
    """The experiment config a finished run was trained with (its run_config.json), `data_dir` overriding."""
    run_dir = RunDir(workdir)
    document = run_dir.read_run_config()
    if not document or "config" not in document:
        raise UserInputError(f"{run_dir.run_config_path}: no finished training run in {workdir} "
                             "(--mode=evaluate needs the --workdir of a run that trained to the end)")
    config = ml_collections.ConfigDict(document["config"])
    if data_dir:
        config.data_dir = data_dir
    return config


def evaluate_finished_run(trainer, output_dir: str) -> dict:
    """Restores the run's last checkpoint and evaluates it on the test split into `output_dir`.

    Args:
        trainer: a `WinnersOutTrainer` built on the run's workdir and config.
        output_dir: where detections/, metrics/, figures/, tensorboard/test and results.json go.

    Returns:
        The results.json document written to `output_dir`.
    """
    config = trainer.config
    start = time.time()
    try:
        trainer.run_dir.check_resumable(trainer.run_config())
        latest = trainer.state.restore_latest()
        train_steps, epochs = int(config.winners_out.train_steps), int(config.winners_out.epochs_per_step)
        done = (int(trainer.state.wo_step.numpy()), int(trainer.state.epoch.numpy()))
        if latest is None or done != (train_steps - 1, epochs):
            where = "none" if latest is None else f"winners-out step {done[0] + 1}, epoch {done[1]}"
            raise UserInputError(f"{trainer.run_dir.checkpoints_dir}: no finished training run (last checkpoint: "
                                 f"{where}; the run trains {train_steps} steps of {epochs} epochs); resume training first")
        output = RunDir(output_dir)
        makedirs(output.tensorboard_dir("test"))  # a file in the way is one line, not TF's FailedPrecondition
        writer = tf.summary.create_file_writer(output.tensorboard_dir("test"))
        metrics = trainer.evaluate(train_steps, run_dir=output, writer=writer)
        writer.flush()
        summary = results_summary({train_steps: metrics}, config, train_steps, time.time() - start)
        summary["evaluated_checkpoint"] = latest
        output.write_results(summary)
    finally:
        trainer.run_dir.release()
    trainer.output.print("\nmAP (%) on the test split at tIoU thresholds (final checkpoint, evaluated again):")
    trainer.output.print(format_map_table(summary["rows"], config.testing.tiou_thresholds))
    return summary

"""Winners-out training (Algorithm 1) as a custom loop under a tf.distribute strategy.

A run alternates, for each winners-out step, `epochs_per_step` epochs of training on every video's
remaining segments with a removal pass (CSC with the weights fixed, top-p per label removed).
What the run writes, and where, is `iwo_tf.training.run_dir.RunDir`'s job.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from iwo_tf.data.dataset_info import load_dataset_info
from iwo_tf.data.masks import MaskStore, MaskTable
from iwo_tf.errors import UserInputError
from iwo_tf.io import makedirs, read_json
from iwo_tf.training.checkpointing import RunCheckpoint, broadcast_run_state
from iwo_tf.training.convergence_guard import guard_from_config, report
from iwo_tf.training.csc_figures import curve_video_ids, write_csc_figures
from iwo_tf.training.datasets import evaluation_dataset, training_dataset
from iwo_tf.training.epoch_inputs import EpochInputs, epoch_seed
from iwo_tf.training.evaluation_runs import (
    SplitLocalizer,
    evaluate_test_split,
    format_map_table,
    removed_fraction,
    results_summary,
    testing_settings,
)
from iwo_tf.training.finished_run import save_final_model
from iwo_tf.training.model_factory import OPTIMIZERS, build_model, build_optimizer
from iwo_tf.training.removal import RemovalPass
from iwo_tf.training.run_dir import RunDir, run_config_document
from iwo_tf.training.run_output import RunOutput
from iwo_tf.training.run_summaries import write_model_graph, write_run_description
from iwo_tf.training.schedule import learning_rate_for
from iwo_tf.training.strategy import is_chief, task_description
from iwo_tf.training.train_step import make_train_step

__all__ = ["OPTIMIZERS", "WinnersOutTrainer", "build_model", "build_optimizer"]


class WinnersOutTrainer:
    """Trains, tests and evaluates one run; resumable from its workdir at any point.

    Distribution (`default`, `mirrored`, `multi_worker`; see `iwo_tf.training.strategy`):

    - Batch size: `config.data.batch_size` is the GLOBAL batch, split evenly over all replicas of all
      workers (it must be divisible by `strategy.num_replicas_in_sync`). The loss is the mean over the
      global batch, so one step is the same SGD step whatever the number of replicas, and the learning
      rate and its schedule are unchanged: do not rescale them when adding workers. Steps per epoch =
      training videos // global batch, on every worker.
    - Input: each worker's pipeline reads every n-th training shard, so with balanced shards, a
      multiple of the number of workers, every video is read by exactly one worker per epoch;
      evaluation datasets are not sharded.
    - Winners-out masks: after each step every worker runs the removal pass over ALL training videos
      and the chief's masks are broadcast (`RemovalPass`), so all workers train on identical masks by
      construction. The chief alone persists them.
    - Resume: the chief restores the last checkpoint and masks from the workdir and broadcasts the
      model, optimizer, winners-out step, epoch and masks (`broadcast_run_state`), so non-chief workers
      need no access to the chief's workdir (they write checkpoints, collectively, to scratch space).
    - Chief-only work (evaluation, figures, summaries, results, model.keras) uses no collectives; the
      other workers wait for it in the next collective (the removal broadcast) without a timeout.

    Args:
        config: the experiment `ConfigDict` (see `configs/base.py`).
        workdir: where the run writes everything (the chief's); other workers use scratch space.
        strategy: the `tf.distribute.Strategy` created at program start.
        verbose: show progress bars and the final table.
    """

    def __init__(self, config, workdir: str, strategy: tf.distribute.Strategy, verbose: bool = True):
        self.config = config
        self.strategy = strategy
        self.chief = is_chief(strategy)
        self.verbose = verbose and self.chief
        # Non-chief workers must still write checkpoints (a collective operation) but to scratch space,
        # removed when run() returns, and on any error at interpreter exit (or when the trainer is freed).
        self.workdir = workdir if self.chief else tempfile.mkdtemp(prefix=f"iwo-{task_description(strategy).replace(':', '-')}-")
        if not self.chief:
            weakref.finalize(self, shutil.rmtree, self.workdir, ignore_errors=True)
        self.run_dir = RunDir(self.workdir)
        if self.chief:
            self.run_dir.lock()  # before anything is read or written; released when run() ends
        self.info = load_dataset_info(config.data_dir)
        weights = config.winners_out.stream_weights
        if len(weights) != len(self.info.stream_dims):
            raise UserInputError(
                f"config.winners_out.stream_weights={tuple(weights)}: {len(weights)} weights for data of "
                f"{len(self.info.stream_dims)} streams (widths {list(self.info.stream_dims)} in {config.data_dir})"
            )
        self.class_names = list(self.info.class_names)
        self.ground_truth = read_json(self.info.ground_truth_path)
        database = self.ground_truth["database"]
        self.train_ids = sorted(v for v, item in database.items() if item.get("subset") == "train")
        self.test_ids = sorted(v for v, item in database.items() if item.get("subset") == "test")
        if not self.train_ids:
            raise UserInputError(f"{self.info.ground_truth_path}: no videos in the 'train' subset")
        self.max_labels = max(len({a["label"] for a in database[v].get("annotations", [])}) for v in self.train_ids) or 1
        self.num_segments = config.data.num_segments
        self.global_batch = max(1, min(int(config.data.batch_size), len(self.train_ids)))
        self.steps_per_epoch = max(1, len(self.train_ids) // self.global_batch)

        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            self.model = build_model(config, self.info.num_classes, self.info.stream_dims)
            self.optimizer = build_optimizer(config.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        self.state = RunCheckpoint(self.model, self.optimizer, self.run_dir.checkpoints_dir)
        self.mask_store = MaskStore(self.run_dir.masks_dir, video_ids=self.train_ids, num_segments=self.num_segments)
        self.mask_table = MaskTable(self.train_ids, self.num_segments)
        single = strategy.num_replicas_in_sync == 1 and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.epoch_inputs = EpochInputs(self.dataset_for_epoch, background=single)  # next epoch built in the background
        self.localizer = SplitLocalizer(
            self.model, top_q=config.testing.top_q, segments_per_step=config.testing.segments_per_step,
            score_method=config.winners_out.score_method, stream_weights=config.winners_out.stream_weights,
        )
        self.removal = RemovalPass(
            self.model, num_classes=self.info.num_classes, max_labels=self.max_labels,
            segments_per_step=config.winners_out.segments_per_step, score_method=config.winners_out.score_method,
            stream_weights=config.winners_out.stream_weights, strategy=strategy,
        )
        for split in ("train", "test"):  # a file in the way is one line, not TF's FailedPrecondition
            makedirs(self.run_dir.tensorboard_dir(split))
        self.train_writer = tf.summary.create_file_writer(self.run_dir.tensorboard_dir("train"))
        self.test_writer = tf.summary.create_file_writer(self.run_dir.tensorboard_dir("test"))
        self.train_step = make_train_step(self.model, self.optimizer, strategy, self.global_batch)
        train_steps, epochs = int(config.winners_out.train_steps), int(config.winners_out.epochs_per_step)
        self.output = RunOutput(total_epochs=train_steps * epochs, enabled=self.verbose)
        self.guard = guard_from_config(config, self.info.num_classes, self.global_batch, self.steps_per_epoch)

    # --- the pieces of Algorithm 1 -----------------------------------------------------------------
    def eval_dataset(self, subset: str, mask_table=None):
        """Every video of `subset` once, in order (with `mask_table`'s keep-masks when given)."""
        return evaluation_dataset(self.info, self.config, subset, mask_table)

    def dataset_for_epoch(self, epoch_seed: int):
        """The distributed training input of one epoch (the current keep-masks applied)."""
        return training_dataset(self.strategy, self.info, self.config, mask_table=self.mask_table,
                                global_batch=self.global_batch, seed=epoch_seed)

    def restore(self) -> bool:
        """Restores the last checkpoint and masks (chief), then gives every worker the chief's state."""
        latest = self.state.restore_latest()
        if latest is not None:
            step = int(self.state.wo_step.numpy())
            masks = self.mask_store.load(step) if step > 0 else {}
            if masks:
                self.mask_table.assign(masks)
            if self.verbose:
                print(f"Resumed from {latest}: winners-out step {step + 1}, epoch {int(self.state.epoch.numpy())}")
        broadcast_run_state(self.strategy, self.state, self.mask_table)
        return latest is not None

    def train_epoch(self, wo_step: int, epoch: int) -> dict:
        """One epoch over the training videos' kept segments; returns the epoch's mean losses and accuracy."""
        config = self.config
        train_steps, epochs = int(config.winners_out.train_steps), int(config.winners_out.epochs_per_step)
        learning_rate = learning_rate_for(config.optimizer, wo_step, epoch, epochs)
        self.optimizer.learning_rate.assign(learning_rate)
        iterator = self.epoch_inputs.iterator(epoch_seed(config, wo_step, epoch))
        if epoch + 1 < epochs:  # the same keep-masks: the next epoch's input is built during this one
            self.epoch_inputs.prepare(epoch_seed(config, wo_step, epoch + 1))
        # A Keras progress bar on a terminal; off a terminal one plain line when the epoch ends.
        progbar = self.output.epoch_started(wo_step + 1, train_steps, epoch + 1, epochs, self.steps_per_epoch)
        totals = np.zeros(3)
        for i in range(self.steps_per_epoch):
            cross_entropy, regulariser, correct = (float(x) for x in self.train_step(iterator))
            totals += (cross_entropy, regulariser, correct)
            if progbar is not None:
                progbar.update(i + 1, [("loss", cross_entropy + regulariser), ("ce", cross_entropy), ("lr", learning_rate)])
        steps = self.steps_per_epoch
        logs = {
            "loss/total": (totals[0] + totals[1]) / steps,
            "loss/cross_entropy": totals[0] / steps,
            "loss/orthogonality": totals[1] / steps,
            "accuracy": totals[2] / (steps * self.global_batch),
            "learning_rate": learning_rate,
        }
        return logs

    def remove_winners(self) -> dict:
        """Algorithm 1, lines 3-10: new keep-masks for every training video (the weights fixed)."""
        return self.removal.run(self.eval_dataset("train", self.mask_table), self.train_ids)

    def evaluate(self, wo_step: int, run_dir: RunDir | None = None, writer=None) -> dict:
        """Winners-out testing and its single-step baselines on the test split; writes detections,
        metrics, figures (into `run_dir` and `writer`, by default the run's own), with TensorBoard
        scalars at the global epoch the model was trained to."""
        run_dir = run_dir or self.run_dir
        writer = writer or self.test_writer
        global_epoch = wo_step * int(self.config.winners_out.epochs_per_step)
        test = self.eval_dataset("test")
        metrics = evaluate_test_split(
            self.localizer, test, config=self.config, class_names=self.class_names, ground_truth=self.ground_truth,
            run_dir=run_dir, wo_step=wo_step, writer=writer, summary_step=global_epoch, output=self.output,
        )
        with self.output.stage("figures", f"CSC curves, WO step {wo_step}"):
            write_csc_figures(
                self.model, test, video_ids=curve_video_ids(self.test_ids, int(self.config.summaries.num_curve_videos)),
                database=self.ground_truth["database"], class_names=self.class_names, config=self.config,
                run_dir=run_dir, writer=writer, wo_step=wo_step, summary_step=global_epoch,
            )
        return metrics

    def _write_epoch_summaries(self, logs: dict, wo_step: int, epoch: int, global_epoch: int) -> None:
        with self.train_writer.as_default(step=global_epoch):
            for name, value in logs.items():
                tf.summary.scalar(name, value)
            tf.summary.scalar("winners_out/step", wo_step + 1)
            every = int(self.config.summaries.histogram_every_epochs)
            if every > 0 and (epoch + 1) % every == 0:
                batch = next(iter(self.eval_dataset("train", self.mask_table)))
                for i, terms in enumerate(self.model.attend_streams(batch["features"], batch["mask"])):
                    tf.summary.histogram(f"attention/stream{i}", terms.attention)
                    tf.summary.histogram(f"shifting_scale/stream{i}", terms.scale)

    def run_config(self) -> dict:
        """The run_config.json document of this run (config, classes, identity, serving block)."""
        batch = next(iter(self.eval_dataset("train")))
        stride = float(np.median(batch["snippet_stride_sec"].numpy()))
        return run_config_document(self.config, self.class_names, self.model.get_config(), stride)

    # --- the whole run (Algorithm 1) ---------------------------------------------------------------
    def run(self) -> dict:
        """Trains with winners-out, tests, evaluates and saves the final model; returns the summary.

        The workdir is locked from the start of the run until it returns or fails.
        """
        try:
            return self._run()
        finally:
            self.run_dir.release()

    def _run(self) -> dict:
        config = self.config
        start = time.time()
        self.run_dir.prepare(self.run_config(), write=self.chief)
        resumed = self.restore()
        train_steps = int(config.winners_out.train_steps)
        epochs = int(config.winners_out.epochs_per_step)
        if self.chief and not resumed:
            tensorboard_dir = os.path.dirname(self.run_dir.tensorboard_dir("train"))
            write_run_description(tensorboard_dir, config, testing_settings(config), trial_id=self.workdir)
            write_model_graph(tensorboard_dir, self.model, self.num_segments, sum(self.info.stream_dims))
        self.output.plan(train_steps=train_steps, epochs_per_step=epochs, done=(int(self.state.wo_step.numpy()),
                         int(self.state.epoch.numpy())), every_step=bool(config.testing.evaluate_every_wo_step),
                         testing_modes=len(testing_settings(config)))
        if self.chief and self.mask_store.latest_step() is None:
            self.mask_store.save(0, {v: np.ones(self.num_segments, bool) for v in self.train_ids})
        per_step_metrics = {}
        while int(self.state.wo_step.numpy()) < train_steps:
            wo_step = int(self.state.wo_step.numpy())
            if config.winners_out.reinitialize and wo_step > 0 and int(self.state.epoch.numpy()) == 0:
                self.state.reinitialize()
            while int(self.state.epoch.numpy()) < epochs:  # train on the kept segments
                epoch = int(self.state.epoch.numpy())
                logs = self.train_epoch(wo_step, epoch)
                self._write_epoch_summaries(logs, wo_step, epoch, wo_step * epochs + epoch + 1)
                message = self.guard and self.guard.update(wo_step * epochs + epoch + 1, logs["loss/cross_entropy"])
                if message and self.chief:
                    report(message, self.train_writer, wo_step * epochs + epoch + 1)
                self.state.epoch.assign_add(1)
                self.state.save()
                # The epoch's time includes its summaries and checkpoint (what the ETA must count).
                self.output.epoch_finished(wo_step + 1, train_steps, epoch + 1, epochs, logs)
            last = wo_step == train_steps - 1
            if self.chief and (last or config.testing.evaluate_every_wo_step):
                per_step_metrics[wo_step + 1] = self.evaluate(wo_step + 1)
            if last:
                break
            with self.output.stage("removal", f"after WO step {wo_step + 1}, p={config.winners_out.segments_per_step}"):
                masks = self.remove_winners()  # remove the winners of each video's own labels
            if self.chief:
                self.mask_store.save(wo_step + 1, masks)
            self.mask_table.assign(masks)
            with self.train_writer.as_default(step=(wo_step + 1) * epochs):
                tf.summary.scalar("winners_out/removed_fraction", removed_fraction(masks))
            self.state.wo_step.assign(wo_step + 1)
            self.state.epoch.assign(0)
            self.state.save()
        summary = self._finish(per_step_metrics, time.time() - start)
        if not self.chief:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return summary

    def _finish(self, per_step_metrics: dict, seconds: float) -> dict:
        if not self.chief:
            return {}
        final_step = int(self.config.winners_out.train_steps)
        if final_step not in per_step_metrics:  # resumed after training had finished
            per_step_metrics[final_step] = self.evaluate(final_step)
        for step in range(1, final_step):  # evaluated before an interruption: read back from disk
            if step not in per_step_metrics:
                per_step_metrics[step] = {  # every mode this run evaluates, in evaluation order
                    mode: read_json(self.run_dir.metrics_path(step, mode)) for mode in testing_settings(self.config)
                    if os.path.exists(self.run_dir.metrics_path(step, mode))}
        per_step_metrics = {step: m for step, m in per_step_metrics.items() if m}
        with self.output.stage("results", "model.keras and results.json"):
            save_final_model(self.model, self.run_dir.model_path)
            summary = results_summary(per_step_metrics, self.config, final_step, seconds)
            self.train_writer.flush()
            self.test_writer.flush()
            self.run_dir.write_results(summary)
        if self.verbose and not self.config.winners_out.get("control", False):  # else: with the control's rows
            print("\nmAP (%) on the test split at tIoU thresholds:")
            print(format_map_table(summary["rows"], self.config.testing.tiou_thresholds))
        return summary

"""Winners-out training (Algorithm 1) as a custom loop under a tf.distribute strategy.

A run alternates, for each winners-out step, `epochs_per_step` epochs of training on every video's
remaining segments with a removal pass (CSC with the weights fixed, top-p per label removed).
Everything a run writes lives under its workdir:

    run_config.json     the config, class names, and what the export needs
    checkpoints/        tf.train.CheckpointManager (model, optimizer, winners-out step, epoch)
    masks/step_NNN.json the keep-masks of each winners-out step (human-readable, atomic writes)
    tensorboard/        train/ and test/ summaries
    detections/         ActivityNet-format results JSON per step and testing mode
    metrics/            mAP JSON per step and testing mode; results.json holds the final table
    model.keras         the final model (the last winners-out step: no selection on test data)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from iwo_tf.data.dataset_info import load_dataset_info
from iwo_tf.data.masks import MaskStore, MaskTable
from iwo_tf.data.pipeline import make_dataset
from iwo_tf.evaluation import compute_detection_map
from iwo_tf.model import IWOClassifier, normalized_label_cross_entropy
from iwo_tf.training import csc_figures
from iwo_tf.training.evaluation_runs import (
    SplitLocalizer,
    format_map_table,
    masked_top1_accuracy,
    removed_fraction,
    results_document,
)
from iwo_tf.training.schedule import step_decay_learning_rate
from iwo_tf.training.strategy import broadcast_from_chief, is_chief, num_workers, task_description
from iwo_tf.winners_out import remove_winners, segment_boundaries_sec, winners_out_select

# Config sections that must not change when a run resumes (they define what the checkpoint means).
_RESUME_INVARIANT_SECTIONS = ("data", "model", "winners_out")


def atomic_write_json(path: str, document: Any) -> None:
    """Writes JSON to a temporary file beside `path` and renames it, so readers never see half a file."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def build_model(config, num_classes: int, stream_dims) -> IWOClassifier:
    """The IWO classifier described by `config.model` and the dataset."""
    model = IWOClassifier(
        num_classes=num_classes,
        num_segments=config.data.num_segments,
        stream_dims=tuple(stream_dims),
        num_modules=config.model.num_modules,
        dropout_rate=config.model.dropout_rate,
        pooling=config.model.pooling,
        use_shifting_bias=config.model.use_shifting_bias,
        orthogonality_weight=config.model.orthogonality_weight,
    )
    model.build()
    return model


OPTIMIZERS = ("sgd", "adam")


def build_optimizer(optimizer_config) -> keras.optimizers.Optimizer:
    """The optimizer named by `config.optimizer.name` (sgd: with `momentum`; adam: Keras defaults)."""
    name = optimizer_config.get("name", "sgd")
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=optimizer_config.learning_rate, momentum=optimizer_config.momentum)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=optimizer_config.learning_rate)
    raise ValueError(f"config.optimizer.name={name!r}: expected one of {', '.join(OPTIMIZERS)}")


class WinnersOutTrainer:
    """Trains, tests and evaluates one run; resumable from its workdir at any point.

    Distribution (`default`, `mirrored`, `multi_worker`; see `iwo_tf.training.strategy`):

    - Batch size: `config.data.batch_size` is the GLOBAL batch, split evenly over all replicas of all
      workers (it must be divisible by `strategy.num_replicas_in_sync`). The loss is the mean over the
      global batch (`tf.nn.compute_average_loss`), so one step is the same SGD step whatever the number
      of replicas, and the learning rate and its schedule are unchanged: do not rescale them when
      adding workers. Steps per epoch = training videos // global batch, on every worker.
    - Input: each worker's pipeline reads every n-th training shard (`make_dataset` with the
      `input_context`), so with balanced shards, a multiple of the number of workers, every video is
      read by exactly one worker per epoch; evaluation datasets are not sharded.
    - Winners-out masks: after each step every worker runs the removal pass over ALL training videos
      (deterministic ops, same weights, same records), then the chief's masks are broadcast
      (`broadcast_from_chief`), so all workers train on identical masks by construction, even on
      heterogeneous hardware or with `config.deterministic=False`; a worker whose own result differs
      logs a warning. The chief alone persists them.
    - Resume: the chief restores the last checkpoint and masks from the workdir and broadcasts the
      model, optimizer, winners-out step, epoch and masks, so non-chief workers need no access to
      the chief's workdir (they write checkpoints, collectively, to a scratch directory).
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
        self.info = load_dataset_info(config.data_dir)
        self.class_names = list(self.info.class_names)
        with open(self.info.ground_truth_path) as f:
            self.ground_truth = json.load(f)
        database = self.ground_truth["database"]
        self.train_ids = sorted(v for v, item in database.items() if item.get("subset") == "train")
        self.test_ids = sorted(v for v, item in database.items() if item.get("subset") == "test")
        if not self.train_ids:
            raise ValueError(f"{self.info.ground_truth_path}: no videos in the 'train' subset")
        self.max_labels = max(
            len({a["label"] for a in database[v].get("annotations", [])}) for v in self.train_ids
        ) or 1
        self.num_segments = config.data.num_segments
        self.global_batch = max(1, min(int(config.data.batch_size), len(self.train_ids)))
        self.steps_per_epoch = max(1, len(self.train_ids) // self.global_batch)

        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            self.model = build_model(config, self.info.num_classes, self.info.stream_dims)
            self.optimizer = build_optimizer(config.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        self.initial_weights = [v.numpy() for v in self.model.weights]
        self.wo_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="wo_step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_in_step")
        weights = {id(v) for v in self.model.weights}
        # Dropout's seed-generator state is not a weight; without it a resumed run draws other
        # dropout masks than the uninterrupted one and "same seed, same numbers" breaks.
        self.rng_states = [v for v in self.model.variables if id(v) not in weights]
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, wo_step=self.wo_step, epoch=self.epoch,
            rng_states=self.rng_states,
        )
        self.checkpoints = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(self.workdir, "checkpoints"), max_to_keep=2
        )
        self.mask_store = MaskStore(os.path.join(self.workdir, "masks"))
        self.mask_table = MaskTable(self.train_ids, self.num_segments)
        self.localizer = SplitLocalizer(
            self.model,
            top_q=config.testing.top_q,
            segments_per_step=config.testing.segments_per_step,
            score_method=config.winners_out.score_method,
            stream_weights=config.winners_out.stream_weights,
        )
        tensorboard = os.path.join(self.workdir, "tensorboard")
        self.train_writer = tf.summary.create_file_writer(os.path.join(tensorboard, "train"))
        self.test_writer = tf.summary.create_file_writer(os.path.join(tensorboard, "test"))
        self._train_step = self._make_train_step()
        self._removal_step = tf.function(self._removal_batch, autograph=False)

    # --- run bookkeeping -------------------------------------------------------------------------
    def _run_config_document(self) -> dict:
        model_config = self.model.get_config()
        keys = ("num_classes", "num_segments", "stream_dims", "num_modules", "dropout_rate", "pooling",
                "use_shifting_bias", "orthogonality_weight")
        return {
            "config": self.config.to_dict(),
            "dataset": self.config.dataset,
            "data_dir": os.path.abspath(self.config.data_dir),
            "class_names": self.class_names,
            "model": {k: model_config[k] for k in keys},
            "localization": {
                "num_steps": self.config.testing.num_steps,
                "top_q": self.config.testing.top_q,
                "segments_per_step": self.config.testing.segments_per_step,
                "stream_weights": list(self.config.winners_out.stream_weights),
                "score_method": self.config.winners_out.score_method,
                "snippets_per_segment": self.config.data.snippets_per_segment,
                # The `localize` signature's default for raw features (each record carries its own).
                "snippet_stride_sec": self._typical_snippet_stride(),
            },
            "model_selection": "last winners-out step (no selection on test data)",
        }

    def _typical_snippet_stride(self) -> float:
        batch = next(iter(self._eval_dataset("train")))
        return float(np.median(batch["snippet_stride_sec"].numpy()))

    def _check_or_write_run_config(self) -> None:
        path = os.path.join(self.workdir, "run_config.json")
        document = self._run_config_document()
        if os.path.exists(path):
            with open(path) as f:
                previous = json.load(f)
            for section in _RESUME_INVARIANT_SECTIONS:
                before = json.loads(json.dumps(previous["config"].get(section)))
                now = json.loads(json.dumps(document["config"].get(section)))
                if before != now:
                    raise ValueError(
                        f"{path}: the workdir holds a run whose '{section}' config differs from this one "
                        f"({before} vs {now}); use a new --workdir or the original config to resume"
                    )
        if self.chief:
            atomic_write_json(path, document)

    def _restore(self) -> bool:
        """Restores the last checkpoint and masks (chief), then gives every worker the chief's state."""
        restored = self._restore_local()
        if num_workers(self.strategy) > 1:
            state = broadcast_from_chief(self.strategy, {
                "weights": [v.value for v in self.model.weights],
                "optimizer": [v.value for v in self.optimizer.variables],
                "rng_states": [v.value for v in self.rng_states],
                "counters": tf.stack([self.wo_step, self.epoch]),
                "masks": self.mask_table.masks.read_value(),
            })
            for variable, value in zip(self.model.weights, state["weights"]):
                variable.assign(value)
            for variable, value in zip(self.optimizer.variables, state["optimizer"]):
                variable.assign(value)
            for variable, value in zip(self.rng_states, state["rng_states"]):
                variable.assign(value)
            self.wo_step.assign(state["counters"][0])
            self.epoch.assign(state["counters"][1])
            self.mask_table.masks.assign(state["masks"])
        return restored

    def _restore_local(self) -> bool:
        latest = self.checkpoints.latest_checkpoint
        if latest is None:
            return False
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        step = int(self.wo_step.numpy())
        masks = self.mask_store.load(step) if step > 0 else {}
        if masks:
            self.mask_table.assign(masks)
        if self.verbose:
            print(f"Resumed from {latest}: winners-out step {step + 1}, epoch {int(self.epoch.numpy())}")
        return True

    # --- training --------------------------------------------------------------------------------
    def _dataset_for_epoch(self, epoch_seed: int):
        config = self.config

        def dataset_fn(input_context):
            return make_dataset(
                self.info.files("train"),
                num_segments=self.num_segments,
                num_classes=self.info.num_classes,
                training=True,
                batch_size=input_context.get_per_replica_batch_size(self.global_batch),
                mask_table=self.mask_table,
                snippets_per_segment=config.data.snippets_per_segment,
                shuffle_buffer=config.data.shuffle_buffer,
                seed=epoch_seed,
                repeat=True,  # every worker then runs exactly steps_per_epoch steps
                drop_remainder=True,
                input_context=input_context,
            )

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def _make_train_step(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        global_batch = self.global_batch

        def replica_step(batch):
            with tf.GradientTape() as tape:
                logits = model({"features": batch["features"], "mask": batch["mask"]}, training=True)
                per_video = normalized_label_cross_entropy(batch["labels"], logits)
                cross_entropy = tf.nn.compute_average_loss(per_video, global_batch_size=global_batch)
                regulariser = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
                regulariser = regulariser / strategy.num_replicas_in_sync
                loss = cross_entropy + regulariser
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return cross_entropy, regulariser, masked_top1_accuracy(batch["labels"], logits)

        def step(iterator):
            cross_entropy, regulariser, correct = strategy.run(replica_step, args=(next(iterator),))
            reduce = lambda x: strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None)  # noqa: E731
            return reduce(cross_entropy), reduce(regulariser), reduce(correct)

        return tf.function(step)

    def _train_epoch(self, wo_step: int, epoch: int) -> dict:
        config = self.config
        learning_rate = step_decay_learning_rate(
            epoch, config.optimizer.learning_rate, config.optimizer.decay_every_epochs, config.optimizer.decay_factor
        )
        self.optimizer.learning_rate.assign(learning_rate)
        epoch_seed = int(config.seed) * 100_003 + wo_step * 1_009 + epoch
        iterator = iter(self._dataset_for_epoch(epoch_seed))
        progbar = keras.utils.Progbar(self.steps_per_epoch, stateful_metrics=["lr"], verbose=1 if self.verbose else 0)
        totals = np.zeros(3)
        for i in range(self.steps_per_epoch):
            cross_entropy, regulariser, correct = (float(x) for x in self._train_step(iterator))
            totals += (cross_entropy, regulariser, correct)
            progbar.update(i + 1, [("loss", cross_entropy + regulariser), ("ce", cross_entropy), ("lr", learning_rate)])
        steps = self.steps_per_epoch
        return {
            "loss/total": (totals[0] + totals[1]) / steps,
            "loss/cross_entropy": totals[0] / steps,
            "loss/orthogonality": totals[1] / steps,
            "accuracy": totals[2] / (steps * self.global_batch),
            "learning_rate": learning_rate,
        }

    def _reinitialize(self) -> None:
        for variable, value in zip(self.model.weights, self.initial_weights):
            variable.assign(value)
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))

    # --- winners-out removal (Algorithm 1, lines 3-10) -----------------------------------------
    def _removal_batch(self, features, mask, labels):
        values, indices = tf.math.top_k(labels, k=min(self.max_labels, self.info.num_classes))
        scorer = self.model.make_segment_scorer(
            features, indices, method=self.config.winners_out.score_method,
            stream_weights=self.config.winners_out.stream_weights,
        )
        return remove_winners(scorer, mask, values > 0, self.config.winners_out.segments_per_step)

    def _eval_dataset(self, subset: str, mask_table=None):
        return make_dataset(
            self.info.files(subset),
            num_segments=self.num_segments,
            num_classes=self.info.num_classes,
            training=False,
            batch_size=self.config.data.eval_batch_size,
            mask_table=mask_table,
        )

    def _remove_winners_from_training_videos(self) -> dict:
        """New keep-masks for every training video; identical on every worker (deterministic)."""
        masks = {}
        for batch in self._eval_dataset("train", self.mask_table):
            new_mask = self._removal_step(batch["features"], batch["mask"], batch["labels"]).numpy() > 0
            for video_id, row in zip(batch["video_id"].numpy(), new_mask):
                masks[video_id.decode()] = row
        missing = set(self.train_ids) - set(masks)
        if missing:
            raise RuntimeError(f"winners-out removal saw no features for {len(missing)} training videos, e.g. {sorted(missing)[:3]}")
        if num_workers(self.strategy) > 1:
            # Every worker computed the masks; the chief's are the ones everybody uses (a collective).
            local = np.stack([masks[v] for v in self.train_ids]).astype(np.float32)
            chief = broadcast_from_chief(self.strategy, local).numpy()
            differing = int(np.sum(np.any(chief != local, axis=1)))
            if differing:
                logging.warning(
                    "%s: winners-out masks of %d/%d training videos differ from the chief's (non-deterministic "
                    "ops or different hardware); using the chief's", task_description(self.strategy), differing, len(local),
                )
            masks = {v: row > 0 for v, row in zip(self.train_ids, chief)}
        return masks

    # --- testing and evaluation ------------------------------------------------------------------
    def _evaluate(self, wo_step: int) -> dict:
        """Winners-out and single-step testing on the test split; writes detections, metrics, summaries."""
        config = self.config
        settings = {"wo_testing": config.testing.num_steps}
        if config.testing.compare_single_step and config.testing.num_steps != 1:
            settings["single_step_testing"] = 1
        dataset = self._eval_dataset("test")
        metrics = {}
        for name, num_steps in settings.items():
            results = self.localizer.results(dataset, num_steps, self.class_names)
            document = results_document(results, wo_step=wo_step, testing_steps=num_steps)
            atomic_write_json(os.path.join(self.workdir, "detections", f"step{wo_step}_{name}.json"), document)
            result = compute_detection_map(
                self.ground_truth, document, subset="test", tiou_thresholds=config.testing.tiou_thresholds
            )
            metrics[name] = result.to_json_dict()
            atomic_write_json(self._metrics_path(wo_step, name), metrics[name])
            with self.test_writer.as_default(step=wo_step):
                for threshold, value in zip(result.tiou_thresholds, result.mAP):
                    tf.summary.scalar(f"{name}/mAP@{float(threshold):.2f}", float(value))
                tf.summary.scalar(f"{name}/average_mAP", float(result.average_mAP))
        self._write_csc_figures(wo_step)
        return metrics

    def _metrics_path(self, wo_step: int, name: str) -> str:
        return os.path.join(self.workdir, "metrics", f"step{wo_step}_{name}.json")

    def _load_metrics(self, wo_step: int) -> dict:
        """What `_evaluate` wrote for `wo_step` (a run resumed after that step reads it back)."""
        metrics = {}
        for name in ("wo_testing", "single_step_testing"):
            path = self._metrics_path(wo_step, name)
            if os.path.exists(path):
                with open(path) as f:
                    metrics[name] = json.load(f)
        return metrics

    def _write_csc_figures(self, wo_step: int) -> None:
        count = int(self.config.summaries.num_curve_videos)
        if count <= 0:
            return
        wanted = set(self.test_ids[:: max(1, len(self.test_ids) // count)][:count])
        database = self.ground_truth["database"]
        for batch in self._eval_dataset("test"):
            ids = [v.decode() for v in batch["video_id"].numpy()]
            rows = [i for i, v in enumerate(ids) if v in wanted]
            if not rows:
                continue
            features = tf.gather(batch["features"], rows)
            labels = tf.gather(batch["labels"], rows).numpy()
            classes = np.argmax(labels, axis=-1).astype("int32")[:, None]
            scorer = self.model.make_segment_scorer(
                features, classes, method="csc", stream_weights=self.config.winners_out.stream_weights
            )
            full = tf.ones(tf.shape(features)[:2])
            csc = scorer(full).numpy()[:, 0]
            attention = np.mean([t.attention.numpy()[:, 0].mean(axis=1) for t in self.model.attend_streams(features, full)], axis=0)
            selection = winners_out_select(
                scorer, full, 1, self.config.testing.num_steps, self.config.testing.segments_per_step
            ).selected.numpy()[:, 0]
            boundaries = segment_boundaries_sec(
                tf.gather(batch["num_snippets"], rows), self.num_segments,
                tf.gather(batch["snippet_stride_sec"], rows), tf.gather(batch["snippet_offset_sec"], rows),
                tf.gather(batch["duration"], rows),
            ).numpy()
            for j, row in enumerate(rows):
                class_name = self.class_names[classes[j, 0]]
                gt = [a["segment"] for a in database[ids[row]]["annotations"] if a["label"] == class_name]
                png = csc_figures.csc_curve_png(
                    video_id=ids[row], class_name=class_name, boundaries_sec=boundaries[j], csc_scores=csc[j],
                    selected=selection[j], attention=attention[j], ground_truth=gt,
                    title_suffix=f" (after winners-out step {wo_step})",
                )
                figure_dir = os.path.join(self.workdir, "figures")
                os.makedirs(figure_dir, exist_ok=True)
                with open(os.path.join(figure_dir, f"step{wo_step}_{ids[row]}.png"), "wb") as f:
                    f.write(png)
                with self.test_writer.as_default(step=wo_step):
                    tf.summary.image(f"csc_curves/{ids[row]}", tf.image.decode_png(png)[None])

    def _attention_histograms(self, global_epoch: int) -> None:
        batch = next(iter(self._eval_dataset("train", self.mask_table)))
        with self.train_writer.as_default(step=global_epoch):
            for i, terms in enumerate(self.model.attend_streams(batch["features"], batch["mask"])):
                tf.summary.histogram(f"attention/stream{i}", terms.attention)
                tf.summary.histogram(f"shifting_scale/stream{i}", terms.scale)

    # --- the whole run -------------------------------------------------------------------------
    def run(self) -> dict:
        """Trains with winners-out, tests, evaluates and saves the final model; returns the summary."""
        config = self.config
        start = time.time()
        if self.chief:
            os.makedirs(self.workdir, exist_ok=True)
        self._check_or_write_run_config()
        self._restore()
        train_steps = int(config.winners_out.train_steps)
        epochs = int(config.winners_out.epochs_per_step)
        if self.chief and self.mask_store.latest_step() is None:
            self.mask_store.save(0, {v: np.ones(self.num_segments, bool) for v in self.train_ids})
        per_step_metrics = {}
        while int(self.wo_step.numpy()) < train_steps:
            wo_step = int(self.wo_step.numpy())
            if config.winners_out.reinitialize and wo_step > 0 and int(self.epoch.numpy()) == 0:
                self._reinitialize()
            while int(self.epoch.numpy()) < epochs:
                epoch = int(self.epoch.numpy())
                if self.verbose:
                    print(f"Winners-out step {wo_step + 1}/{train_steps}, epoch {epoch + 1}/{epochs}")
                logs = self._train_epoch(wo_step, epoch)
                global_epoch = wo_step * epochs + epoch + 1
                with self.train_writer.as_default(step=global_epoch):
                    for name, value in logs.items():
                        tf.summary.scalar(name, value)
                    tf.summary.scalar("winners_out/step", wo_step + 1)
                every = int(config.summaries.histogram_every_epochs)
                if every > 0 and (epoch + 1) % every == 0:
                    self._attention_histograms(global_epoch)
                self.epoch.assign_add(1)
                self.checkpoints.save()
            last = wo_step == train_steps - 1
            if self.chief and (last or config.testing.evaluate_every_wo_step):
                per_step_metrics[wo_step + 1] = self._evaluate(wo_step + 1)
            if last:
                break
            masks = self._remove_winners_from_training_videos()
            if self.chief:
                self.mask_store.save(wo_step + 1, masks)
            self.mask_table.assign(masks)
            with self.train_writer.as_default(step=(wo_step + 1) * epochs):
                tf.summary.scalar("winners_out/removed_fraction", removed_fraction(masks))
            self.wo_step.assign(wo_step + 1)
            self.epoch.assign(0)
            self.checkpoints.save()
        summary = self._finish(per_step_metrics, time.time() - start)
        if not self.chief:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return summary

    def _finish(self, per_step_metrics: dict, seconds: float) -> dict:
        if not self.chief:
            return {}
        config = self.config
        final_step = int(config.winners_out.train_steps)
        if final_step not in per_step_metrics:  # resumed after training had finished
            per_step_metrics[final_step] = self._evaluate(final_step)
        for step in range(1, final_step):  # evaluated before an interruption: read back from disk
            if step not in per_step_metrics:
                per_step_metrics[step] = self._load_metrics(step)
        per_step_metrics = {step: m for step, m in per_step_metrics.items() if m}
        self.model.save(os.path.join(self.workdir, "model.keras"))
        rows = {}
        for step, metrics in sorted(per_step_metrics.items()):
            for name, values in metrics.items():
                label = "winners-out testing" if name == "wo_testing" else "single-step testing"
                rows[f"WO-step {step}, {label}"] = values
        summary = {
            "dataset": config.dataset,
            "model_selection": "last winners-out step",
            "tiou_thresholds": list(config.testing.tiou_thresholds),
            "rows": rows,
            "final": per_step_metrics[final_step],
            "train_seconds": seconds,
        }
        self.train_writer.flush()
        self.test_writer.flush()
        atomic_write_json(os.path.join(self.workdir, "results.json"), summary)
        if self.verbose:
            print("\nmAP (%) on the test split at tIoU thresholds:")
            print(format_map_table(rows, config.testing.tiou_thresholds))
        return summary

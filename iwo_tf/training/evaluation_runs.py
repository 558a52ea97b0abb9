"""Winners-out testing (Algorithm 2) over a whole split, and its evaluation, as the trainer runs them."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from iwo_tf.evaluation import compute_detection_map
from iwo_tf.training.run_dir import TESTING_MODES
from iwo_tf.winners_out import detections_to_results, localize


class SplitLocalizer:
    """Runs `localize` batch by batch over a dataset, one compiled graph per number of steps.

    Args:
        model: the `IWOClassifier`.
        top_q: q.
        segments_per_step: p.
        score_method: `csc` or `attention`.
        stream_weights: Eq. 10 weights.
    """

    def __init__(self, model, *, top_q, segments_per_step, score_method, stream_weights):
        self.model = model
        self.top_q = int(top_q)
        self.segments_per_step = int(segments_per_step)
        self.score_method = score_method
        self.stream_weights = tuple(float(w) for w in stream_weights)
        self._compiled = {}

    def _function(self, num_steps: int):
        if num_steps not in self._compiled:

            def run(batch):
                out = localize(
                    self.model,
                    batch["features"],
                    num_snippets=batch["num_snippets"],
                    snippet_stride_sec=batch["snippet_stride_sec"],
                    snippet_offset_sec=batch["snippet_offset_sec"],
                    duration=batch["duration"],
                    num_steps=num_steps,
                    top_q=self.top_q,
                    segments_per_step=self.segments_per_step,
                    method=self.score_method,
                    stream_weights=self.stream_weights,
                )
                return out.detections._asdict(), out.video_scores

            self._compiled[num_steps] = tf.function(run, autograph=False)
        return self._compiled[num_steps]

    def results(self, dataset, num_steps: int, class_names: Sequence[str]) -> dict:
        """ActivityNet-format `results` mapping for every video of `dataset`."""
        function = self._function(int(num_steps))
        results = {}
        for batch in dataset:
            detections, _ = function(batch)
            results.update(detections_to_results(batch["video_id"].numpy(), detections, class_names))
        return results


def results_document(results: Mapping[str, list], **external) -> dict:
    """The full ActivityNet detection JSON document around a `results` mapping."""
    return {"version": "iwo-tf", "results": dict(results), "external_data": {"used": False, **external}}


def format_map_table(rows: Mapping[str, Mapping], thresholds: Sequence[float]) -> str:
    """A plain-text table: one row per setting, mAP (%) per tIoU threshold, and their average."""
    head = f"{'setting':<34}" + "".join(f"{t:>7.2f}" for t in thresholds) + f"{'avg':>7}"
    lines = [head, "-" * len(head)]
    for name, metrics in rows.items():
        values = "".join(f"{100 * v:>7.1f}" for v in metrics["mAP"])
        lines.append(f"{name:<34}{values}{100 * metrics['average_mAP']:>7.1f}")
    return "\n".join(lines)


def masked_top1_accuracy(labels, logits):
    """Number of videos whose top-1 class is one of their labels (multi-label accuracy)."""
    top1 = tf.argmax(logits, axis=-1, output_type=tf.int32)
    hit = tf.gather(labels, top1, axis=1, batch_dims=1) > 0
    return tf.reduce_sum(tf.cast(hit, tf.float32))


def removed_fraction(masks: Mapping[str, np.ndarray]) -> float:
    """Fraction of all training segments winners-out has removed so far."""
    if not masks:
        return 0.0
    stacked = np.stack([np.asarray(m, bool) for m in masks.values()])
    return float(1.0 - stacked.mean())


def testing_settings(config) -> dict:
    """Testing mode -> number of winners-out testing steps the run evaluates."""
    settings = {"wo_testing": int(config.testing.num_steps)}
    if config.testing.compare_single_step and config.testing.num_steps != 1:
        settings["single_step_testing"] = 1
    return settings


def evaluate_test_split(localizer: SplitLocalizer, dataset, *, config, class_names, ground_truth, run_dir,
                        wo_step: int, writer) -> dict:
    """Winners-out (and single-step) testing on the test split, scored against the ground truth.

    Writes each mode's detections and metrics under the run's workdir and its mAP to TensorBoard.

    Args:
        localizer: the run's `SplitLocalizer`.
        dataset: the test split (an evaluation dataset).
        config: the experiment config (`testing` section).
        class_names: index -> class name.
        ground_truth: the dataset's ActivityNet-format ground truth document.
        run_dir: the run's `RunDir`.
        wo_step: the winners-out step just trained (1-based).
        writer: the test summary writer.

    Returns:
        testing mode -> metrics (`DetectionMapResult.to_json_dict()`).
    """
    metrics = {}
    for mode, num_steps in testing_settings(config).items():
        results = localizer.results(dataset, num_steps, class_names)
        document = results_document(results, wo_step=wo_step, testing_steps=num_steps)
        run_dir.write_detections(wo_step, mode, document)
        result = compute_detection_map(ground_truth, document, subset="test", tiou_thresholds=config.testing.tiou_thresholds)
        metrics[mode] = result.to_json_dict()
        run_dir.write_metrics(wo_step, mode, metrics[mode])
        with writer.as_default(step=wo_step):
            for threshold, value in zip(result.tiou_thresholds, result.mAP):
                tf.summary.scalar(f"{mode}/mAP@{float(threshold):.2f}", float(value))
            tf.summary.scalar(f"{mode}/average_mAP", float(result.average_mAP))
    return metrics


def results_summary(per_step_metrics: Mapping[int, Mapping], config, final_step: int, seconds: float) -> dict:
    """The contents of results.json: one row per winners-out step and testing mode, and the final model's.

    Args:
        per_step_metrics: winners-out step -> testing mode -> metrics (steps without metrics skipped).
        config: the experiment config.
        final_step: the last winners-out step (the model the run keeps).
        seconds: the run's wall time.
    """
    rows = {}
    for step, metrics in sorted(per_step_metrics.items()):
        for mode, values in metrics.items():
            rows[f"WO-step {step}, {TESTING_MODES[mode]}"] = values
    return {
        "dataset": config.dataset,
        "model_selection": "last winners-out step",
        "tiou_thresholds": list(config.testing.tiou_thresholds),
        "rows": rows,
        "final": per_step_metrics[final_step],
        "train_seconds": seconds,
    }

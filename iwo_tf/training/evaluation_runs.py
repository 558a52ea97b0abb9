"""Winners-out testing (Algorithm 2) over a whole split, and its evaluation, as the trainer runs them."""
from __future__ import annotations

import contextlib
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from iwo_tf.evaluation import compute_detection_map
from iwo_tf.evaluation.results_json import detections_document
from iwo_tf.training.run_dir import TESTING_MODES
from iwo_tf.winners_out import detections_to_results, localize_incremental


class SplitLocalizer:
    """Runs `localize_incremental` (the computation the export serves) batch by batch over a dataset,
    one compiled graph per (steps, p).

    Args:
        model: the `IWOClassifier`.
        top_q: q.
        segments_per_step: p.
        score_method: `csc` or `attention`.
        stream_weights: Eq. 10 weights.
        localize_function: the implementation (the reference `iwo_tf.winners_out.localize` gives
            the same detections more slowly; benchmarks use it as the yardstick).
    """

    def __init__(self, model, *, top_q, segments_per_step, score_method, stream_weights,
                 localize_function=localize_incremental):
        self.model = model
        self.localize_function = localize_function
        self.top_q = int(top_q)
        self.segments_per_step = int(segments_per_step)
        self.score_method = score_method
        self.stream_weights = tuple(float(w) for w in stream_weights)
        self._compiled = {}

    def _function(self, num_steps: int, segments_per_step: int):
        key = (num_steps, segments_per_step)
        if key not in self._compiled:

            def run(batch):
                out = self.localize_function(
                    self.model,
                    batch["features"],
                    num_snippets=batch["num_snippets"],
                    snippet_stride_sec=batch["snippet_stride_sec"],
                    snippet_offset_sec=batch["snippet_offset_sec"],
                    duration=batch["duration"],
                    num_steps=num_steps,
                    top_q=self.top_q,
                    segments_per_step=segments_per_step,
                    method=self.score_method,
                    stream_weights=self.stream_weights,
                )
                return out.detections._asdict(), out.video_scores

            self._compiled[key] = tf.function(run, autograph=False)
        return self._compiled[key]

    def results(self, dataset, num_steps: int, class_names: Sequence[str], segments_per_step: int | None = None) -> dict:
        """ActivityNet-format `results` mapping for every video of `dataset`.

        Args:
            dataset: an evaluation dataset.
            num_steps: winners-out testing steps.
            class_names: index -> class name.
            segments_per_step: p of this call (None: the localizer's p).
        """
        p = self.segments_per_step if segments_per_step is None else int(segments_per_step)
        function = self._function(int(num_steps), p)
        results = {}
        for batch in dataset:
            detections, _ = function(batch)
            results.update(detections_to_results(batch["video_id"].numpy(), detections, class_names))
        return results


def results_document(results: Mapping[str, list], **external) -> dict:
    """The ActivityNet detection document of a testing run (the evaluation package's one envelope)."""
    return detections_document(results, version="iwo-tf", external_data={"used": False, **external})


def format_map_table(rows: Mapping[str, Mapping], thresholds: Sequence[float]) -> str:
    """A plain-text table: one row per setting, mAP (%) per tIoU threshold, and their average."""
    width = max([34, *(len(name) + 1 for name in rows)])
    head = f"{'setting':<{width}}" + "".join(f"{t:>7.2f}" for t in thresholds) + f"{'avg':>7}"
    lines = [head, "-" * len(head)]
    for name, metrics in rows.items():
        values = "".join(f"{100 * v:>7.1f}" for v in metrics["mAP"])
        lines.append(f"{name:<{width}}{values}{100 * metrics['average_mAP']:>7.1f}")
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


def mode_label(mode: str) -> str:
    """The row label of a testing mode (`winners-out testing`, ...)."""
    return TESTING_MODES.get(mode, mode)


def testing_settings(config) -> dict:
    """Testing mode -> `(num_steps, segments_per_step)` the run evaluates.

    - `wo_testing`: winners-out testing, Algorithm 2: N steps of p segments per predicted class.
    - `single_step_testing`: the fair regular-testing baseline: ONE step (one score computation) that
      selects as many segments per predicted class as winners-out testing selects in total, N x p
      (capped at K), so the comparison measures the iterative recomputation, not the count.
    - `single_step_p` (`config.testing.single_step_p`): one step of p segments, the paper's "regular
      testing" (7.5% of the video at p/K = 30/400: it caps recall), kept as a named variant.
    """
    testing = config.testing
    num_steps, p = int(testing.num_steps), int(testing.segments_per_step)
    settings = {"wo_testing": (num_steps, p)}
    if testing.compare_single_step and num_steps != 1:
        settings["single_step_testing"] = (1, min(num_steps * p, int(config.data.num_segments)))
        if testing.get("single_step_p", True):
            settings["single_step_p"] = (1, p)
    return settings


def evaluate_test_split(localizer: SplitLocalizer, dataset, *, config, class_names, ground_truth, run_dir,
                        wo_step: int, writer, summary_step: int | None = None, output=None) -> dict:
    """Winners-out testing and its single-step baselines on the test split, scored against the ground truth.

    Writes each mode's detections and metrics under the run's workdir and its mAP to TensorBoard.

    Args:
        localizer: the run's `SplitLocalizer`.
        dataset: the test split (an evaluation dataset).
        config: the experiment config (`testing` section).
        class_names: index -> class name.
        ground_truth: the dataset's ActivityNet-format ground truth document.
        run_dir: where detections and metrics go (a `RunDir`).
        wo_step: the winners-out step just trained (1-based).
        writer: the test summary writer.
        summary_step: the TensorBoard step of the scalars: the global epoch the model was trained to
            (training's axis); None uses `wo_step`.
        output: a `RunOutput` for stage lines and the mAP as soon as known, or None.

    Returns:
        testing mode -> metrics (`DetectionMapResult.to_json_dict()`).
    """
    metrics = {}
    timed = output.stage if output is not None else (lambda *args: contextlib.nullcontext())
    for mode, (num_steps, p) in testing_settings(config).items():
        with timed("testing", f"{mode_label(mode)}, WO step {wo_step}, {num_steps} x {p} segments"):
            results = localizer.results(dataset, num_steps, class_names, segments_per_step=p)
        document = results_document(results, wo_step=wo_step, testing_steps=num_steps, segments_per_step=p)
        run_dir.write_detections(wo_step, mode, document)
        with timed("evaluation", f"{mode_label(mode)}, WO step {wo_step}"):
            result = compute_detection_map(ground_truth, document, subset="test",
                                           tiou_thresholds=config.testing.tiou_thresholds)
        metrics[mode] = result.to_json_dict()
        run_dir.write_metrics(wo_step, mode, metrics[mode])
        if output is not None:
            output.step_map(f"WO-step {wo_step}, {mode_label(mode)}", metrics[mode], config.testing.tiou_thresholds)
        with writer.as_default(step=wo_step if summary_step is None else summary_step):
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
            rows[f"WO-step {step}, {mode_label(mode)}"] = values
    return {
        "dataset": config.dataset,
        "model_selection": "last winners-out step",
        "tiou_thresholds": list(config.testing.tiou_thresholds),
        "rows": rows,
        "final": per_step_metrics[final_step],
        "train_seconds": seconds,
    }

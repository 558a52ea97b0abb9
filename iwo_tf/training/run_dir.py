"""The layout of a training run's workdir, the run_config.json schema and its resume rules.

Everything a run writes lives under its workdir; this module is the one place that names the paths:

    run_config.json     the config, class names, the run's identity and what the export needs
    checkpoints/        tf.train.CheckpointManager (model, optimizer, winners-out step, epoch)
    masks/step_NNN.json the keep-masks of each winners-out step (human-readable, checksummed)
    tensorboard/        train/ and test/ summaries
    detections/         ActivityNet-format results JSON per step and testing mode
    metrics/            mAP JSON per step and testing mode
    figures/            CSC curves of a few test videos per step (PNG)
    results.json        the final table
    model.keras         the final model (the last winners-out step: no selection on test data)

Serving (`iwo_tf.serving.training_run_export`) reads `run_config.json` and `model.keras`.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional

from iwo_tf.errors import UserInputError
from iwo_tf.io import read_json, safe_file_component, write_bytes_atomic, write_json_atomic
from iwo_tf.serving.serving_config import ServingConfig

# Config sections that must not change when a run resumes (they define what the checkpoint means).
RESUME_INVARIANT_SECTIONS = ("data", "model", "winners_out")
# Testing modes a run evaluates, in table order, and their row labels.
TESTING_MODES = {"wo_testing": "winners-out testing", "single_step_testing": "single-step testing"}
MODEL_KEYS = ("num_classes", "num_segments", "stream_dims", "num_modules", "dropout_rate", "pooling",
              "use_shifting_bias", "orthogonality_weight")


def _plain(value: Any) -> Any:
    """`value` as JSON gives it back (tuples become lists), for comparisons with a file's contents."""
    return json.loads(json.dumps(value))


def run_config_document(config, class_names, model_config: Mapping, snippet_stride_sec: float) -> dict:
    """The contents of run_config.json.

    Args:
        config: the experiment `ConfigDict`.
        class_names: index -> class name.
        model_config: `IWOClassifier.get_config()`.
        snippet_stride_sec: the typical seconds between snippets of the training data (the
            `localize` signature's default for raw features; each record carries its own).
    """
    serving = ServingConfig(
        num_steps=int(config.testing.num_steps),
        top_q=int(config.testing.top_q),
        segments_per_step=int(config.testing.segments_per_step),
        stream_weights=tuple(config.winners_out.stream_weights),
        score_method=config.winners_out.score_method,
        snippet_stride_sec=float(snippet_stride_sec),
    )
    localization = {key: value for key, value in serving.to_json().items() if key != "snippet_offset_sec"}
    localization["snippets_per_segment"] = config.data.snippets_per_segment
    return {
        "config": config.to_dict(),
        "dataset": config.dataset,
        "data_dir": os.path.abspath(config.data_dir),
        "class_names": list(class_names),
        "model": {key: model_config[key] for key in MODEL_KEYS},
        "localization": localization,
        "serving": serving.to_json(),
        "model_selection": "last winners-out step (no selection on test data)",
    }


class RunDir:
    """A training run's workdir: its paths, run_config.json, metrics and results.

    Args:
        workdir: the directory (created by `prepare`).
    """

    def __init__(self, workdir: str):
        self.workdir = str(workdir)

    # --- paths -------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return os.path.join(self.workdir, *parts)

    @property
    def run_config_path(self) -> str:
        return self.path("run_config.json")

    @property
    def checkpoints_dir(self) -> str:
        return self.path("checkpoints")

    @property
    def masks_dir(self) -> str:
        return self.path("masks")

    def tensorboard_dir(self, split: str) -> str:
        """`tensorboard/train` or `tensorboard/test`."""
        return self.path("tensorboard", split)

    @property
    def results_path(self) -> str:
        return self.path("results.json")

    @property
    def model_path(self) -> str:
        return self.path("model.keras")

    def detections_path(self, wo_step: int, mode: str) -> str:
        return self.path("detections", f"step{int(wo_step)}_{mode}.json")

    def metrics_path(self, wo_step: int, mode: str) -> str:
        return self.path("metrics", f"step{int(wo_step)}_{mode}.json")

    def figure_path(self, wo_step: int, video_id: str) -> str:
        """`figures/step<N>_<video>.png`, the video id made a safe file-name component."""
        return self.path("figures", f"step{int(wo_step)}_{safe_file_component(video_id)}.png")

    # --- run_config.json and the resume rules ------------------------------------------------------
    def read_run_config(self) -> Optional[dict]:
        """The stored run_config.json, or None when the workdir holds no run yet."""
        if not os.path.exists(self.run_config_path):
            return None
        try:
            return read_json(self.run_config_path)
        except ValueError as error:
            raise UserInputError(f"{self.run_config_path}: not valid JSON ({error}); restore it or use a new --workdir") from None

    def check_resumable(self, document: Mapping) -> None:
        """Refuses to continue a stored run whose invariant config differs from `document`'s.

        Raises:
            UserInputError: one line naming run_config.json and the section that differs.
        """
        previous = self.read_run_config()
        if previous is None:
            return
        for section in RESUME_INVARIANT_SECTIONS:
            before = _plain(previous.get("config", {}).get(section))
            now = _plain(document["config"].get(section))
            if before != now:
                raise UserInputError(
                    f"{self.run_config_path}: the workdir holds a run whose '{section}' config differs from this one "
                    f"({before} vs {now}); use a new --workdir or the original config to resume"
                )

    def prepare(self, document: Mapping, *, write: bool) -> None:
        """Checks that the workdir can hold this run (resume rules), then records its run_config.json.

        Args:
            document: `run_config_document(...)`.
            write: False on workers that only read (non-chief workers write nothing here).
        """
        self.check_resumable(document)
        if write:
            write_json_atomic(self.run_config_path, dict(document))

    # --- metrics, detections, results --------------------------------------------------------------
    def write_detections(self, wo_step: int, mode: str, document: Mapping) -> str:
        return write_json_atomic(self.detections_path(wo_step, mode), dict(document))

    def write_metrics(self, wo_step: int, mode: str, metrics: Mapping) -> str:
        return write_json_atomic(self.metrics_path(wo_step, mode), dict(metrics))

    def load_metrics(self, wo_step: int) -> dict:
        """The metrics written for `wo_step`, by testing mode (a run resumed after that step reads them back)."""
        metrics = {}
        for mode in TESTING_MODES:
            path = self.metrics_path(wo_step, mode)
            if os.path.exists(path):
                metrics[mode] = read_json(path)
        return metrics

    def write_figure(self, wo_step: int, video_id: str, png: bytes) -> str:
        """Writes a figure atomically, following no symlink; returns its path."""
        return write_bytes_atomic(self.figure_path(wo_step, video_id), png)

    def write_results(self, summary: Mapping) -> str:
        return write_json_atomic(self.results_path, dict(summary))

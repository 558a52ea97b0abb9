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
    run.lock            held (flock) by the run using the workdir; holds its pid

The tools that use a finished run (export, diagnose, visualize) read `run_config.json` and
`model.keras` through `iwo_tf.training.finished_run`, which also writes `model.keras`.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import weakref
from typing import Any, Mapping, Optional

import tensorflow as tf
from absl import logging

from iwo_tf.data.dataset_writer import CLASSES_TXT, DATASET_JSON, GROUND_TRUTH_JSON
from iwo_tf.errors import UserInputError
from iwo_tf.io import is_url, makedirs, read_json, safe_file_component, write_bytes_atomic, write_json_atomic
from iwo_tf.serving.serving_config import ServingConfig

# Config sections that must not change when a run resumes (they define what the checkpoint means).
RESUME_INVARIANT_SECTIONS = ("data", "model", "winners_out")
# Top-level config values that are part of a run's identity too.
RESUME_INVARIANT_KEYS = ("seed",)
LOCK_FILE = "run.lock"
# Testing modes a run evaluates, in table order, and their row labels.
TESTING_MODES = {
    "wo_testing": "winners-out testing",
    "single_step_testing": "single-step testing",
    "single_step_p": "single-step testing (1 x p)",
}
MODEL_KEYS = ("num_classes", "num_segments", "stream_dims", "num_modules", "dropout_rate", "pooling",
              "use_shifting_bias", "orthogonality_weight")


def _plain(value: Any) -> Any:
    """`value` as JSON gives it back (tuples become lists), for comparisons with a file's contents."""
    return json.loads(json.dumps(value))


def data_fingerprint(data_dir: str) -> str:
    """sha256 of a converted dataset: dataset.json, classes.txt and ground_truth.json contents, and every shard's size.

    Two directories holding the same conversion have the same fingerprint wherever they are; features
    converted again from other files (even with the same video ids and classes) do not.

    Args:
        data_dir: the converted dataset directory.
    """
    digest = hashlib.sha256()
    for name in (DATASET_JSON, CLASSES_TXT, GROUND_TRUTH_JSON):
        with tf.io.gfile.GFile(os.path.join(data_dir, name), "rb") as f:
            content = f.read()
        digest.update(f"{name}:{len(content)}:".encode())
        digest.update(content)
    metadata = json.loads(tf.io.gfile.GFile(os.path.join(data_dir, DATASET_JSON), "rb").read())
    for subset in sorted(metadata.get("subsets", {})):
        for name in metadata["subsets"][subset].get("files", []):
            size = tf.io.gfile.stat(os.path.join(data_dir, name)).length
            digest.update(f"{subset}/{name}:{size};".encode())
    return digest.hexdigest()


def run_identity(config) -> dict:
    """What a run is: its data's fingerprint and the config values a resumed run must share."""
    invariant = {section: _plain(config[section].to_dict() if hasattr(config[section], "to_dict") else config[section])
                 for section in RESUME_INVARIANT_SECTIONS}
    invariant.update({key: _plain(config[key]) for key in RESUME_INVARIANT_KEYS})
    return {"data_fingerprint": data_fingerprint(config.data_dir), "invariant_config": invariant}


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
        "identity": run_identity(config),
        "model_selection": "last winners-out step (no selection on test data)",
    }


class RunDir:
    """A training run's workdir: its paths, run_config.json, metrics and results.

    Args:
        workdir: the directory (created by `prepare`).
    """

    def __init__(self, workdir: str):
        self.workdir = str(workdir)
        self._lock_fd = None

    # --- the exclusive lock ------------------------------------------------------------------------
    @property
    def lock_path(self) -> str:
        return self.path(LOCK_FILE)

    def lock(self) -> None:
        """Takes the workdir's exclusive lock (`flock` on run.lock, which then holds this process's pid).

        Held until `release()`, or until the process ends (the kernel drops it even after kill -9).
        Workdirs on URL filesystems (gs://) cannot be locked: a warning says so.

        Raises:
            UserInputError: another process holds it (the message names its pid).
        """
        if self._lock_fd is not None:
            return
        if is_url(self.workdir):
            logging.warning("%s: a workdir on a URL filesystem cannot be locked; run one job on it at a time", self.workdir)
            return
        makedirs(self.workdir)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.lock_path, flags, 0o666)
        except OSError as error:
            raise UserInputError(f"{self.lock_path}: cannot open the workdir lock ({error.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise UserInputError(
                f"{self.workdir}: another run (pid {holder}) is using this workdir (lock {self.lock_path}); "
                "wait for it to finish or use another --workdir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        """Releases the lock taken by `lock()` (no-op when not held)."""
        if self._lock_fd is not None:
            self._finalizer()  # closing the descriptor drops the flock
            self._lock_fd = None

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
        if not tf.io.gfile.exists(self.run_config_path):
            return None
        try:
            return read_json(self.run_config_path)
        except UserInputError as error:  # "<path>: not valid JSON (...)"
            raise UserInputError(f"{error}; restore it or use a new --workdir") from None

    def check_resumable(self, document: Mapping) -> None:
        """Refuses to continue a stored run that is another run: other data, or another invariant config.

        The data is compared by fingerprint (`data_fingerprint`), so a moved dataset is accepted and a
        different one in the same place, or with the same video ids, is not. A run_config.json from
        before identities were recorded is compared by its data_dir path.

        Raises:
            UserInputError: one line naming run_config.json and what differs.
        """
        previous = self.read_run_config()
        if previous is None:
            return
        before = previous.get("identity", {}).get("data_fingerprint")
        now = document["identity"]["data_fingerprint"]
        if (before is not None and before != now) or (before is None and previous.get("data_dir") != document["data_dir"]):
            raise UserInputError(
                f"{self.run_config_path}: the workdir holds a run trained on other data ({previous.get('data_dir')}, "
                f"fingerprint {str(before)[:12]}) than {document['data_dir']} (fingerprint {now[:12]}); "
                "resume with the original data or use a new --workdir"
            )
        for key in RESUME_INVARIANT_KEYS:
            if key in previous.get("config", {}) and _plain(previous["config"][key]) != _plain(document["config"][key]):
                raise UserInputError(
                    f"{self.run_config_path}: the workdir holds a run with config.{key}={previous['config'][key]!r}, "
                    f"not {document['config'][key]!r}; use a new --workdir or the original config to resume"
                )
        for section in RESUME_INVARIANT_SECTIONS:
            before = _plain(previous.get("config", {}).get(section))
            now = _plain(document["config"].get(section))
            if before != now:
                raise UserInputError(
                    f"{self.run_config_path}: the workdir holds a run whose '{section}' config differs from this one "
                    f"({before} vs {now}); use a new --workdir or the original config to resume"
                )

    def prepare(self, document: Mapping, *, write: bool) -> None:
        """Locks the workdir, checks that it can hold this run (resume rules), then records run_config.json.

        The identity recorded never changes: a run_config.json is only rewritten by a run that passed
        `check_resumable` (other settings, e.g. testing ones, may change between resumes).

        Args:
            document: `run_config_document(...)`.
            write: False on workers that write nothing here (non-chief workers; no lock taken).
        """
        if write:
            self.lock()
        try:
            self.check_resumable(document)
        except UserInputError:
            self.release()
            raise
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
            if tf.io.gfile.exists(path):
                metrics[mode] = read_json(path)
        return metrics

    def write_figure(self, wo_step: int, video_id: str, png: bytes) -> str:
        """Writes a figure atomically, following no symlink; returns its path."""
        return write_bytes_atomic(self.figure_path(wo_step, video_id), png)

    def write_results(self, summary: Mapping) -> str:
        return write_json_atomic(self.results_path, dict(summary))

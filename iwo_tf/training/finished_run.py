"""A finished training run, read back by the tools that use it after training (export, diagnose,
visualize), and the final model's one writer.

A run writes `run_config.json` when it starts and `model.keras` when it ends (atomically, by
`save_final_model`), so a workdir with both holds a finished run and one with only the first holds a
run that has not finished.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from typing import List, Mapping

import tensorflow as tf

from iwo_tf.errors import UserInputError
from iwo_tf.io import write_bytes_atomic
from iwo_tf.training.run_dir import RunDir


def save_final_model(model, path: str) -> str:
    """Saves `model` as a `.keras` file at `path` atomically; returns `path`.

    Keras writes the archive in a private temporary directory; its bytes then go to `path` through
    `write_bytes_atomic` (a temporary name, then a rename; a symlink at `path` is replaced, never
    followed), so a reader never finds half a model and an interrupted save leaves the old file.
    """
    with tempfile.TemporaryDirectory(prefix="iwo-model-") as scratch:
        local = os.path.join(scratch, "model.keras")
        model.save(local)
        with open(local, "rb") as f:
            data = f.read()
    return write_bytes_atomic(path, data)


class FinishedRun:
    """The `run_config.json` and final `model.keras` of a training run's workdir.

    Args:
        workdir: the run's `--workdir`.

    Raises:
        UserInputError: the workdir holds no run, the run has not finished, or its run_config.json
            is not a JSON object.
    """

    def __init__(self, workdir: str):
        self.workdir = str(workdir)
        run_dir = RunDir(self.workdir)
        self.config_path = run_dir.run_config_path
        self.model_path = run_dir.model_path
        if not tf.io.gfile.exists(self.config_path):
            raise UserInputError(f"{self.config_path}: not found ({self.workdir} is not a training run's --workdir)")
        if not tf.io.gfile.exists(self.model_path):
            raise UserInputError(
                f"{self.model_path}: not found (the run in {self.workdir} has not finished: the final model is "
                "written when training ends)"
            )
        document = run_dir.read_run_config()
        if not isinstance(document, dict):
            raise UserInputError(f"{self.config_path}: expected a JSON object, got {type(document).__name__}")
        self.run_config = document

    def load_model(self):
        """The run's final `IWOClassifier`."""
        import keras

        import iwo_tf.model  # noqa: F401  (registers the custom classes before loading)

        try:
            return keras.saving.load_model(self.model_path)
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise UserInputError(f"{self.model_path}: not a readable Keras model ({error})") from None

    @property
    def data_dir(self) -> str:
        """The converted data the run trained on (as the run recorded it)."""
        data_dir = self.run_config.get("data_dir") or self.run_config.get("config", {}).get("data_dir")
        if not data_dir or not isinstance(data_dir, str):
            raise UserInputError(f"{self.config_path}: records no data_dir")
        return data_dir

    def class_names(self, num_classes: int) -> List[str]:
        """The run's class names; `"0" .. "C-1"` when it recorded none."""
        names = self.run_config.get("class_names")
        if not names:
            return [str(i) for i in range(num_classes)]
        if len(names) != num_classes:
            raise UserInputError(f"{self.config_path}: {len(names)} class names for a model of {num_classes} classes")
        return [str(name) for name in names]

    @property
    def serving_settings(self) -> Mapping:
        """The run's `ServingConfig` fields (runs written before the `serving` block: `localization`)."""
        return self.run_config.get("serving") or self.run_config.get("localization") or {}

    @property
    def localization_settings(self) -> Mapping:
        """The winners-out testing settings the run evaluated with."""
        return self.run_config.get("localization") or {}

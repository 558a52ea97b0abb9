"""Exports a finished training run (its workdir) as a TF Serving model version.

The export ships to other machines (a container, a serving host), so nothing in it names a path
of the training host: `models.config` points at `/models/<name>` unless told otherwise, and the
run config kept as provenance has absolute paths reduced to their last component.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from iwo_tf.serving.saved_model_export import DEFAULT_SERVING_BASE_PATH, export_saved_model
from iwo_tf.serving.serving_config import ServingConfig

_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")


def _is_host_path(value: str) -> bool:
    return value.startswith(("/", "~", "\\\\")) or bool(_WINDOWS_ABSOLUTE.match(value))


def portable_provenance(value: Any) -> Any:
    """A copy of `value` (JSON-like) with every absolute host path reduced to its last component.

    `{"data_dir": "/home/me/data/thumos14"}` becomes `{"data_dir": "thumos14"}`: which dataset it was
    stays visible, where it lay on the training host does not travel with the export.
    """
    if isinstance(value, dict):
        return {key: portable_provenance(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable_provenance(item) for item in value]
    if isinstance(value, str) and _is_host_path(value):
        parts = [part for part in re.split(r"[\\/]", value) if part]
        return parts[-1] if parts else "/"
    return value


def export_run(
    workdir: str,
    export_base: str,
    model_name: str,
    *,
    serving_base_path: Optional[str] = DEFAULT_SERVING_BASE_PATH,
    version: Optional[int] = None,
    **overrides,
) -> str:
    """Loads a training run and exports it as the next version of `<export_base>/<model_name>`.

    Args:
        workdir: the run directory (`model.keras`, `run_config.json`).
        export_base: the folder holding one folder per served model.
        model_name: the TF Serving model name, `[A-Za-z0-9._-]+`.
        serving_base_path: where the server sees `export_base` in `models.config` (`/models`, the
            container mount, by default; None writes this machine's absolute path).
        version: an explicit new version number; None takes the next one.
        **overrides: `ServingConfig` fields that win over the run config's `serving` block
            (None values ignored).

    Returns:
        The new version directory.
    """
    from iwo_tf.training.finished_run import FinishedRun  # here: the training package imports serving

    run = FinishedRun(workdir)
    serving_config = ServingConfig.from_mapping(run.serving_settings, **overrides)
    model = run.load_model()
    class_names = run.class_names(model.num_classes)
    return export_saved_model(
        model,
        class_names=class_names,
        export_base=export_base,
        model_name=model_name,
        serving_config=serving_config,
        serving_base_path=serving_base_path,
        version=version,
        extra_metadata={"run_config": portable_provenance(run.run_config)},
    )

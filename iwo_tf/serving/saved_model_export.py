"""Writes a TF Serving model version: `<export_base>/<model_name>/<version>/` plus `models.config`."""
from __future__ import annotations

import datetime
import os
import shutil
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from iwo_tf.errors import UserInputError
from iwo_tf.io import write_json_atomic, write_text_atomic
from iwo_tf.serving import warmup_requests
from iwo_tf.serving.export_paths import (
    clean_stale_temporaries,
    model_dir_inside,
    new_temporary_dir,
    validate_model_name,
    version_dir_inside,
)
from iwo_tf.serving.localization_signatures import SIGNATURE_NAMES, LocalizationSignatures
from iwo_tf.serving.records import serialize_features
from iwo_tf.serving.serving_config import ServingConfig

METADATA_FILENAME = "iwo_export.json"
MODELS_CONFIG_FILENAME = "models.config"
# Where the official container mounts the export base (export/README.md).
DEFAULT_SERVING_BASE_PATH = "/models"


def existing_versions(model_dir: str) -> list[int]:
    """The integer version directories under `model_dir` (what TF Serving would consider)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir) if name.isdigit() and os.path.isdir(os.path.join(model_dir, name)))


def latest_version_dir(path: str) -> str:
    """Resolves a model base directory to its highest version; a version directory is returned as is."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = existing_versions(path)
    if not versions:
        raise UserInputError(f"{path}: no saved_model.pb and no integer version folder; give an export folder")
    return os.path.join(path, str(versions[-1]))


def write_models_config(
    export_base: str, model_name: str, serving_base_path: Optional[str] = DEFAULT_SERVING_BASE_PATH
) -> str:
    """Adds (or updates) `model_name` in `<export_base>/models.config`, TF Serving's `--model_config_file`.

    Entries for other models already in the file are kept, so several models can share a base. The
    file is replaced atomically and never through a symlink.

    Args:
        export_base: the directory holding one folder per model.
        model_name: the model to register.
        serving_base_path: the directory `export_base` is visible as to the server: `/models`
            (the container mount) by default; None writes this machine's absolute path.

    Returns:
        The path of the config file.
    """
    validate_model_name(model_name)
    path = os.path.join(export_base, MODELS_CONFIG_FILENAME)
    config = model_server_config_pb2.ModelServerConfig()
    if os.path.isfile(path):
        with open(path) as f:
            try:
                text_format.Parse(f.read(), config)
            except text_format.ParseError as error:
                raise UserInputError(f"{path}: not a TF Serving model config ({error}); fix or remove it") from None
    base = serving_base_path if serving_base_path is not None else os.path.abspath(export_base)
    entries = config.model_config_list.config
    entry = next((c for c in entries if c.name == model_name), None) or entries.add()
    entry.name = model_name
    entry.base_path = f"{base.rstrip('/')}/{model_name}"
    entry.model_platform = "tensorflow"
    write_text_atomic(path, text_format.MessageToString(config))
    return path


def _warmup_examples(feature_dim: int, stride: float, seed: int = 0) -> list[bytes]:
    """Two small records in the project's TFRecord schema for the `serving_default` warmup."""
    rng = np.random.default_rng(seed)
    return [
        serialize_features(f"warmup_{index}", rng.normal(size=(num_snippets, feature_dim)), snippet_stride_sec=stride)
        for index, num_snippets in enumerate((32, 5))
    ]


def export_saved_model(
    model,
    *,
    class_names: Sequence[str],
    export_base: str,
    model_name: str,
    serving_config: Optional[ServingConfig] = None,
    serving_base_path: Optional[str] = DEFAULT_SERVING_BASE_PATH,
    version: Optional[int] = None,
    extra_metadata: Optional[dict] = None,
    **settings,
) -> str:
    """Exports a trained `IWOClassifier` as a TF Serving model version.

    Writes the SavedModel (signatures `localize`, `localize_with_options` and `serving_default`, see
    `LocalizationSignatures`), `assets.extra/tf_serving_warmup_requests` and
    `assets.extra/iwo_export.json` into a private temporary folder next to the versions, and
    renames it to the next integer version only when complete: TF Serving polls the folder and
    must never see a half-written version. Temporary folders of killed exports are removed or
    reported first. Then registers the model in `<export_base>/models.config`.

    Args:
        model: a built `IWOClassifier` (weights as trained).
        class_names: C names, index-aligned with the classifier outputs.
        export_base: directory holding one folder per served model.
        model_name: the TF Serving model name (folder under `export_base`), `[A-Za-z0-9._-]+`.
        serving_config: the localization settings; None uses `ServingConfig()`'s defaults.
        serving_base_path: where the server sees `export_base` (for `models.config`), `/models` by
            default; None writes this machine's absolute path.
        version: an explicit version number (must be new); None picks one above existing versions.
        extra_metadata: JSON provenance stored in `iwo_export.json` (no host paths: it ships).
        **settings: `ServingConfig` fields overriding `serving_config` (None values ignored).

    Returns:
        The path of the new version directory.

    Raises:
        UserInputError: a bad model name or a model folder that leaves the export base.
    """
    validate_model_name(model_name)
    config = ServingConfig.from_mapping((serving_config or ServingConfig()).to_json(), **settings)
    if not model.built:
        model.build()
    signatures = LocalizationSignatures(model, class_names, config)

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, input_signature) in signatures.endpoints().items():
        archive.add_endpoint(name, function, input_signature=input_signature)

    model_dir = model_dir_inside(export_base, model_name)
    clean_stale_temporaries(model_dir)
    tmp_dir = new_temporary_dir(model_dir)
    try:
        archive.write_out(tmp_dir, verbose=False)
        logs = warmup_requests.build_warmup_requests(
            model_name, signatures.feature_dim, _warmup_examples(signatures.feature_dim, config.snippet_stride_sec)
        )
        warmup_requests.write_warmup_file(tmp_dir, logs)
        metadata = {
            "model_name": model_name,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "tensorflow_version": tf.__version__,
            "class_names": signatures.class_names,
            "num_classes": int(model.num_classes),
            "num_segments": signatures.num_segments,
            "feature_dim": signatures.feature_dim,
            "stream_dims": list(model.stream_dims),
            "max_top_q": signatures.max_top_q,
            "max_detections": signatures.max_detections,
            "serving": config.to_json(),
            "model_config": model.get_config(),
            "signatures": list(SIGNATURE_NAMES),
            "extra": extra_metadata or {},
        }
        write_json_atomic(os.path.join(tmp_dir, "assets.extra", METADATA_FILENAME), metadata, indent=2)
        final_dir = _publish(tmp_dir, model_dir, version)
    except BaseException:
        if os.path.isdir(tmp_dir) and not os.path.islink(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    write_models_config(export_base, model_name, serving_base_path)
    return final_dir


def _publish(tmp_dir: str, model_dir: str, version: Optional[int]) -> str:
    """Renames the finished export to its version; retries upward if a concurrent export took it."""
    if version is not None:
        target = version_dir_inside(model_dir, version)
        if os.path.lexists(target):
            raise UserInputError(f"version {version} already exists at {target}; pick a new --version")
        os.rename(tmp_dir, target)
        return target
    for _ in range(100):
        versions = existing_versions(model_dir)
        target = version_dir_inside(model_dir, versions[-1] + 1 if versions else 1)
        # rename(2) of a directory fails on an existing non-empty target, and no empty version
        # directory is ever created, so a lost race shows up here rather than as a clobber.
        if os.path.lexists(target):
            continue
        try:
            os.rename(tmp_dir, target)
            return target
        except OSError:
            continue
    raise RuntimeError(f"could not find a free version number under {model_dir}")

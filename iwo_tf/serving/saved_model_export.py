"""Writes a TF Serving model version: `<export_base>/<model_name>/<version>/` plus `models.config`."""
from __future__ import annotations

import datetime
import json
import os
import shutil
import uuid
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from iwo_tf.serving import warmup_requests
from iwo_tf.serving.localization_signatures import LocalizationSignatures
from iwo_tf.serving.records import serialize_features
from iwo_tf.serving.serving_config import DEFAULT_SNIPPET_STRIDE_SEC, ServingConfig

METADATA_FILENAME = "iwo_export.json"
MODELS_CONFIG_FILENAME = "models.config"
_TMP_PREFIX = ".tmp-"


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
        raise FileNotFoundError(f"no SavedModel and no integer version directory under {path}")
    return os.path.join(path, str(versions[-1]))


def _atomic_write_text(path: str, text: str):
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_models_config(export_base: str, model_name: str, serving_base_path: Optional[str] = None) -> str:
    """Adds (or updates) `model_name` in `<export_base>/models.config`, TF Serving's `--model_config_file`.

    Entries for other models already in the file are kept, so several models can share a base.

    Args:
        export_base: the directory holding one folder per model.
        model_name: the model to register.
        serving_base_path: the directory `export_base` is visible as to the server (e.g. `/models`
            inside the container); None uses the absolute local path.

    Returns:
        The path of the config file.
    """
    path = os.path.join(export_base, MODELS_CONFIG_FILENAME)
    config = model_server_config_pb2.ModelServerConfig()
    if os.path.exists(path):
        with open(path) as f:
            text_format.Parse(f.read(), config)
    base = serving_base_path if serving_base_path is not None else os.path.abspath(export_base)
    entries = config.model_config_list.config
    entry = next((c for c in entries if c.name == model_name), None) or entries.add()
    entry.name = model_name
    entry.base_path = f"{base.rstrip('/')}/{model_name}"
    entry.model_platform = "tensorflow"
    _atomic_write_text(path, text_format.MessageToString(config))
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
    num_steps: int = 10,
    top_q: int = 2,
    segments_per_step: int = 30,
    stream_weights: Optional[Sequence[float]] = None,
    score_method: str = "csc",
    snippet_stride_sec: float = DEFAULT_SNIPPET_STRIDE_SEC,
    snippet_offset_sec: float = 0.0,
    serving_base_path: Optional[str] = None,
    version: Optional[int] = None,
    extra_metadata: Optional[dict] = None,
) -> str:
    """Exports a trained `IWOClassifier` as a TF Serving model version.

    Writes the SavedModel (signatures `localize` and `serving_default`, see
    `LocalizationSignatures`), `assets.extra/tf_serving_warmup_requests` and
    `assets.extra/iwo_export.json` into a hidden temporary directory next to the versions, and
    renames it to the next integer version only when complete: TF Serving polls the directory and
    must never see a half-written version. Then registers the model in `<export_base>/models.config`.

    Args:
        model: a built `IWOClassifier` (weights as trained).
        class_names: C names, index-aligned with the classifier outputs.
        export_base: directory holding one folder per served model.
        model_name: the TF Serving model name (folder under `export_base`).
        num_steps: default N_step of winners-out testing.
        top_q: maximum (and default) number of classes localized per video.
        segments_per_step: default p.
        stream_weights: Eq. 10 fusion weights, e.g. `(1.0, 10.0)`.
        score_method: `"csc"` or `"attention"`.
        snippet_stride_sec: default snippet stride of the `localize` signature.
        snippet_offset_sec: default first-snippet offset of the `localize` signature.
        serving_base_path: where the server sees `export_base` (for `models.config`), e.g. `/models`.
        version: an explicit version number (must be new); None picks one above existing versions.
        extra_metadata: JSON-serialisable provenance stored in `iwo_export.json` (e.g. the run config).

    Returns:
        The path of the new version directory.
    """
    if not model_name or os.sep in model_name:
        raise ValueError(f"model_name must be a plain directory name, got {model_name!r}")
    if not model.built:
        model.build()
    config = ServingConfig(
        num_steps=num_steps,
        top_q=top_q,
        segments_per_step=segments_per_step,
        stream_weights=stream_weights,
        score_method=score_method,
        snippet_stride_sec=snippet_stride_sec,
        snippet_offset_sec=snippet_offset_sec,
    )
    signatures = LocalizationSignatures(model, class_names, config)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("localize", signatures.localize_function(), input_signature=signatures.localize_input_signature)
    archive.add_endpoint(
        "serving_default", signatures.examples_function(), input_signature=signatures.examples_input_signature
    )

    model_dir = os.path.join(export_base, model_name)
    os.makedirs(model_dir, exist_ok=True)
    tmp_dir = os.path.join(model_dir, f"{_TMP_PREFIX}{uuid.uuid4().hex}")
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
            "signatures": ["localize", "serving_default"],
            "extra": extra_metadata or {},
        }
        with open(os.path.join(tmp_dir, "assets.extra", METADATA_FILENAME), "w") as f:
            json.dump(metadata, f, indent=2, default=str)
        final_dir = _publish(tmp_dir, model_dir, version)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    write_models_config(export_base, model_name, serving_base_path)
    return final_dir


def _publish(tmp_dir: str, model_dir: str, version: Optional[int]) -> str:
    """Renames the finished export to its version; retries upward if a concurrent export took it."""
    if version is not None:
        target = os.path.join(model_dir, str(int(version)))
        if os.path.exists(target):
            raise FileExistsError(f"version {version} already exists at {target}")
        os.rename(tmp_dir, target)
        return target
    for _ in range(100):
        versions = existing_versions(model_dir)
        target = os.path.join(model_dir, str(versions[-1] + 1 if versions else 1))
        try:
            # rename(2) of a directory fails on an existing non-empty target, and we never create
            # empty version directories, so a lost race shows up here rather than as a clobber.
            if os.path.exists(target):
                continue
            os.rename(tmp_dir, target)
            return target
        except OSError:
            continue
    raise RuntimeError(f"could not find a free version number under {model_dir}")

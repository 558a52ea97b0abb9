"""Serving: the SavedModel signatures (winners-out localization in-graph), export, warmup, offline use.

The exported graph reuses `iwo_tf.data` (parsing, resampling) and `iwo_tf.winners_out.localize`,
so a served model computes exactly what the library computes.
"""
from iwo_tf.serving.localization_signatures import DETECTION_KEYS, LocalizationSignatures
from iwo_tf.serving.records import serialize_features
from iwo_tf.serving.results_json import activitynet_results, write_results_json
from iwo_tf.serving.saved_model_export import (
    existing_versions,
    export_saved_model,
    latest_version_dir,
    write_models_config,
)
from iwo_tf.serving.saved_model_localizer import SavedModelLocalizer
from iwo_tf.serving.serving_config import DEFAULT_SNIPPET_STRIDE_SEC, ServingConfig
from iwo_tf.serving.training_run_export import export_run
from iwo_tf.serving.warmup_requests import build_warmup_requests, read_warmup_file, write_warmup_file

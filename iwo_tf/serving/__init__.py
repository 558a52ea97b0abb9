"""Serving: the SavedModel signatures (winners-out localization in-graph), export, warmup, offline use.

The exported graph reuses `iwo_tf.data` (parsing, resampling) and
`iwo_tf.winners_out.localize_incremental` (held by tests to the reference `localize`), so a served
model computes what the library computes.
"""
from iwo_tf.serving.localization_signatures import DETECTION_KEYS, SIGNATURE_NAMES, LocalizationSignatures
from iwo_tf.serving.records import serialize_features
from iwo_tf.serving.detections_json import activitynet_results, write_results_json
from iwo_tf.serving.export_paths import clean_stale_temporaries, validate_model_name
from iwo_tf.serving.saved_model_export import (
    DEFAULT_SERVING_BASE_PATH,
    existing_versions,
    export_saved_model,
    latest_version_dir,
    write_models_config,
)
from iwo_tf.serving.saved_model_localizer import SavedModelLocalizer
from iwo_tf.serving.serving_config import DEFAULT_SNIPPET_STRIDE_SEC, ServingConfig
from iwo_tf.serving.training_run_export import export_run, portable_provenance
from iwo_tf.serving.warmup_requests import build_warmup_requests, read_warmup_file, write_warmup_file

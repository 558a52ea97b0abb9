"""Exports a finished training run (its workdir) as a TF Serving model version."""
from __future__ import annotations

import json
import os


def export_run(workdir: str, export_base: str, model_name: str, **overrides) -> str:
    """Loads a training run and exports it; `overrides` (None values ignored) win over the run config.

    Returns:
        The new version directory.
    """
    import keras

    import iwo_tf.model  # noqa: F401  (registers the custom classes before loading)
    from iwo_tf.serving.saved_model_export import export_saved_model
    from iwo_tf.serving.serving_config import DEFAULT_SNIPPET_STRIDE_SEC

    with open(os.path.join(workdir, "run_config.json")) as f:
        run_config = json.load(f)
    model = keras.models.load_model(os.path.join(workdir, "model.keras"))
    localization = dict(run_config.get("localization", {}))
    settings = {
        "num_steps": localization.get("num_steps", 10),
        "top_q": localization.get("top_q", 2),
        "segments_per_step": localization.get("segments_per_step", 30),
        "stream_weights": localization.get("stream_weights"),
        "score_method": localization.get("score_method", "csc"),
        "snippet_stride_sec": localization.get("snippet_stride_sec", DEFAULT_SNIPPET_STRIDE_SEC),
        "snippet_offset_sec": localization.get("snippet_offset_sec", 0.0),
    }
    settings.update({key: value for key, value in overrides.items() if value is not None})
    if settings["stream_weights"] is not None:
        settings["stream_weights"] = [float(w) for w in settings["stream_weights"]]
    class_names = run_config.get("class_names") or [str(i) for i in range(model.num_classes)]
    return export_saved_model(
        model,
        class_names=class_names,
        export_base=export_base,
        model_name=model_name,
        extra_metadata={"workdir": os.path.abspath(workdir), "run_config": run_config},
        **settings,
    )

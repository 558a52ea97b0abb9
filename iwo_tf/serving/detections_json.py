"""Writes served detections as an ActivityNet results file (the evaluation package's envelope)."""
from __future__ import annotations

from typing import Mapping, Optional

from iwo_tf.evaluation.results_json import detections_document
from iwo_tf.io import write_json_atomic


def activitynet_results(results: Mapping[str, list], external_data: Optional[dict] = None) -> dict:
    """Wraps `{video_id: [{label, score, segment}]}` in the ActivityNet submission envelope (validated)."""
    return detections_document(results, external_data=external_data)


def write_results_json(path: str, results: Mapping[str, list], external_data: Optional[dict] = None) -> str:
    """Writes ActivityNet results JSON atomically, without following a symlink, refusing NaN/Infinity.

    Args:
        path: destination file.
        results: `{video_id: [{"label", "score", "segment": [start, end]}]}`, e.g. from
            `iwo_tf.winners_out.detections_to_results`.
        external_data: the envelope's `external_data` entry.

    Returns:
        `path`.

    Raises:
        ValueError: a non-finite score or time (it would be written as `NaN`/`Infinity`, not JSON).
    """
    return write_json_atomic(path, activitynet_results(results, external_data), indent=None)

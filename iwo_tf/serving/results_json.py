"""ActivityNet-format detection results, written atomically."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Mapping, Optional


def activitynet_results(results: Mapping[str, list], external_data: Optional[dict] = None) -> dict:
    """Wraps `{video_id: [{label, score, segment}]}` in the ActivityNet submission envelope."""
    return {
        "version": "VERSION 1.3",
        "results": {str(video): list(entries) for video, entries in results.items()},
        "external_data": external_data or {"used": False, "details": ""},
    }


def write_results_json(path: str, results: Mapping[str, list], external_data: Optional[dict] = None) -> str:
    """Writes ActivityNet results JSON via a temporary file and `os.replace`: readers never see a partial file.

    Args:
        path: destination file.
        results: `{video_id: [{"label", "score", "segment": [start, end]}]}`, e.g. from
            `iwo_tf.winners_out.detections_to_results`.
        external_data: the envelope's `external_data` entry.

    Returns:
        `path`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".json.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(activitynet_results(results, external_data), f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path

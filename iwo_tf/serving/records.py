"""Serialized requests for `serving_default`: raw features -> a record in the project's TFRecord schema."""
from __future__ import annotations

from typing import Optional

import numpy as np

from iwo_tf.data.schema import VideoRecord, serialize_video


def serialize_features(
    video_id: str,
    features,
    *,
    snippet_stride_sec: float,
    snippet_offset_sec: float = 0.0,
    duration: Optional[float] = None,
) -> bytes:
    """Builds one serialized record (what `serving_default` takes) from raw snippet features.

    Delegates to `iwo_tf.data.schema.serialize_video`, so requests use exactly the schema the
    converter writes and the exported graph parses.

    Args:
        video_id: echoed back in the `video_id` output.
        features: `[T, D]` float features.
        snippet_stride_sec: seconds between snippets.
        snippet_offset_sec: start time of the first snippet.
        duration: video length in seconds; None uses `offset + T * stride`.

    Returns:
        The serialized `tf.train.Example` bytes.
    """
    features = np.asarray(features, np.float32)
    if duration is None:
        duration = snippet_offset_sec + features.shape[0] * snippet_stride_sec
    record = VideoRecord(
        video_id=str(video_id),
        subset="test",
        labels=[],
        duration=float(duration),
        snippet_stride_sec=float(snippet_stride_sec),
        snippet_offset_sec=float(snippet_offset_sec),
        features=features,
    )
    return serialize_video(record)

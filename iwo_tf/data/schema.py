"""The TFRecord schema: one `tf.train.Example` per video.

Keys (all present in every record):

| key                  | type        | meaning                                                           |
|----------------------|-------------|-------------------------------------------------------------------|
| `video_id`           | bytes       | the video's name, unique within a dataset                         |
| `subset`             | bytes       | `train` or `test` (each layout's own names are mapped onto these) |
| `labels`             | int64 list  | unique, sorted video-level class indices (`classes.txt` lines)    |
| `duration`           | float       | video length in seconds                                           |
| `num_snippets`       | int64       | T, the number of feature rows                                     |
| `feature_dim`        | int64       | D, the number of feature columns                                  |
| `stream_dims`        | int64 list  | width of each stream, e.g. `[1024, 1024]` (RGB, flow); sums to D  |
| `snippet_stride_sec` | float       | seconds between consecutive snippets                              |
| `snippet_offset_sec` | float       | start of snippet 0: snippet i spans `[off + i*s, off + (i+1)*s)`  |
| `features`           | bytes (one) | the `[T, D]` matrix as raw little-endian float32, row-major       |
| `gt/segments`        | float list  | ground-truth instances, flattened `[start, end]` pairs in seconds |
| `gt/labels`          | int64 list  | one class index per ground-truth instance                         |

Features are one raw bytes value rather than a float list: building and parsing float lists is several
times slower (see docs/PLATFORM.md, "tf.data over TFRecords").
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

SUBSETS = ("train", "test")

FEATURE_SPEC = {
    "video_id": tf.io.FixedLenFeature([], tf.string),
    "subset": tf.io.FixedLenFeature([], tf.string),
    "labels": tf.io.VarLenFeature(tf.int64),
    "duration": tf.io.FixedLenFeature([], tf.float32),
    "num_snippets": tf.io.FixedLenFeature([], tf.int64),
    "feature_dim": tf.io.FixedLenFeature([], tf.int64),
    "stream_dims": tf.io.VarLenFeature(tf.int64),
    "snippet_stride_sec": tf.io.FixedLenFeature([], tf.float32),
    "snippet_offset_sec": tf.io.FixedLenFeature([], tf.float32),
    "features": tf.io.FixedLenFeature([], tf.string),
    "gt/segments": tf.io.VarLenFeature(tf.float32),
    "gt/labels": tf.io.VarLenFeature(tf.int64),
}


@dataclasses.dataclass
class VideoRecord:
    """One video as it is stored: features, timing, labels and ground truth.

    Args:
        video_id: unique name of the video.
        subset: `train` or `test`.
        labels: video-level class indices (duplicates are removed and the rest sorted on write).
        duration: video length in seconds.
        snippet_stride_sec: seconds between consecutive snippets.
        features: `[T, D]` snippet features (converted to float32).
        snippet_offset_sec: start time of snippet 0.
        stream_dims: width of each feature stream; None means a single stream of width D.
        gt_segments: `[G, 2]` ground-truth `[start, end]` seconds.
        gt_labels: `[G]` class index per ground-truth instance.
    """

    video_id: str
    subset: str
    labels: Sequence[int]
    duration: float
    snippet_stride_sec: float
    features: np.ndarray
    snippet_offset_sec: float = 0.0
    stream_dims: Optional[Sequence[int]] = None
    gt_segments: Sequence[Sequence[float]] = ()
    gt_labels: Sequence[int] = ()


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def serialize_video(record: VideoRecord) -> bytes:
    """Encodes one video as a serialized `tf.train.Example` in the schema above.

    Only the structure is checked here (2-D features, stream widths, G x 2 segments). Content checks
    (finite values, T > 0, label range) belong to whoever accepts the data: the converter
    (`iwo_tf.data.validation`) or the consuming graph, so that serving can also receive and reject
    bad requests with its own messages.

    Args:
        record: the video.

    Returns:
        The serialized example.

    Raises:
        ValueError: the features are not 2-D, the stream widths do not sum to D, or the ground truth
            is not a list of `[start, end]` pairs with one label each.
    """
    features = np.asarray(record.features, dtype="<f4")
    if features.ndim != 2:
        raise ValueError(f"video {record.video_id!r}: features must be [T, D], got shape {features.shape}")
    num_snippets, feature_dim = features.shape
    stream_dims = [int(d) for d in (record.stream_dims if record.stream_dims is not None else [feature_dim])]
    if sum(stream_dims) != feature_dim:
        raise ValueError(f"video {record.video_id!r}: stream_dims {stream_dims} do not sum to D={feature_dim}")
    gt_segments = np.asarray(record.gt_segments, dtype=np.float64).reshape(-1, 2) if len(record.gt_segments) else np.zeros((0, 2))
    gt_labels = [int(c) for c in record.gt_labels]
    if len(gt_labels) != len(gt_segments):
        raise ValueError(
            f"video {record.video_id!r}: {len(gt_segments)} ground-truth segments but {len(gt_labels)} labels"
        )
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "video_id": _bytes([record.video_id.encode("utf-8")]),
                "subset": _bytes([record.subset.encode("utf-8")]),
                "labels": _ints(sorted({int(c) for c in record.labels})),
                "duration": _floats([float(record.duration)]),
                "num_snippets": _ints([num_snippets]),
                "feature_dim": _ints([feature_dim]),
                "stream_dims": _ints(stream_dims),
                "snippet_stride_sec": _floats([float(record.snippet_stride_sec)]),
                "snippet_offset_sec": _floats([float(record.snippet_offset_sec)]),
                "features": _bytes([np.ascontiguousarray(features).tobytes()]),
                "gt/segments": _floats(gt_segments.reshape(-1).tolist()),
                "gt/labels": _ints(gt_labels),
            }
        )
    )
    return example.SerializeToString()


def parse_video(serialized: tf.Tensor, feature_dim: Optional[int] = None) -> dict:
    """Decodes one serialized record; pure TF ops, usable in tf.data and in exported graphs.

    Args:
        serialized: scalar string tensor, one record.
        feature_dim: if given, the static width D of `features` (records of another width fail with
            InvalidArgument).

    Returns:
        A dict of tensors: `video_id`, `subset` (string scalars), `labels` (int64 [n]), `duration`,
        `snippet_stride_sec`, `snippet_offset_sec` (float32 scalars), `num_snippets`, `feature_dim`
        (int64 scalars), `stream_dims` (int64 [S]), `features` (float32 [T, D]), `gt_segments`
        (float32 [G, 2]), `gt_labels` (int64 [G]).

    Raises:
        tf.errors.InvalidArgumentError (when run): a malformed record, or a features payload whose
            size does not match `num_snippets * feature_dim`.
    """
    parsed = tf.io.parse_single_example(serialized, FEATURE_SPEC)
    num_snippets = parsed["num_snippets"]
    stored_dim = parsed["feature_dim"]
    flat = tf.io.decode_raw(parsed["features"], tf.float32, little_endian=True)
    checks = [
        tf.debugging.assert_equal(
            tf.size(flat, out_type=tf.int64),
            num_snippets * stored_dim,
            message="record: the features payload does not hold num_snippets * feature_dim float32 values",
        )
    ]
    if feature_dim is not None:
        checks.append(
            tf.debugging.assert_equal(
                stored_dim, tf.constant(feature_dim, tf.int64), message=f"record: feature_dim differs from the expected {feature_dim}"
            )
        )
    with tf.control_dependencies(checks):
        features = tf.reshape(flat, tf.stack([num_snippets, stored_dim]))
    if feature_dim is not None:
        features = tf.ensure_shape(features, [None, feature_dim])
    return {
        "video_id": parsed["video_id"],
        "subset": parsed["subset"],
        "labels": tf.sparse.to_dense(parsed["labels"]),
        "duration": parsed["duration"],
        "num_snippets": num_snippets,
        "feature_dim": stored_dim,
        "stream_dims": tf.sparse.to_dense(parsed["stream_dims"]),
        "snippet_stride_sec": parsed["snippet_stride_sec"],
        "snippet_offset_sec": parsed["snippet_offset_sec"],
        "features": features,
        "gt_segments": tf.reshape(tf.sparse.to_dense(parsed["gt/segments"]), [-1, 2]),
        "gt_labels": tf.sparse.to_dense(parsed["gt/labels"]),
    }

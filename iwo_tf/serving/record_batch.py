"""A batch of serialized records -> validated `[B, K, D]` segments, in a handful of batched ops.

`serving_default` receives B records of different lengths T_b. Parsing them one by one (`tf.map_fn`
over the strings) copies every record into a TensorList and runs a parse, a decode and a resample per
record; here the batch is parsed once, the feature payloads are decoded into one `[sum T_b, D]`
matrix (joined first when their sizes differ; never padded to the longest video), and every record is resampled to K segments
at once with the rule of `iwo_tf.data.pipeline.resample_to_segments` (T >= K: the mean of each
segment's snippet interval; T < K: the interval's first snippet), which tests check it against.
"""
from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from iwo_tf.data.schema import FEATURE_SPEC
from iwo_tf.serving.input_checks import TOO_LARGE

_FLOAT32_BYTES = 4


class RecordBatch(NamedTuple):
    """Parsed, validated and resampled records.

    Attributes:
        segments: `[B, K, D]` float32.
        num_snippets: `[B]` int32 T.
        snippet_stride_sec, snippet_offset_sec, duration: `[B]` float32.
        video_id: `[B]` string.
    """

    segments: tf.Tensor
    num_snippets: tf.Tensor
    snippet_stride_sec: tf.Tensor
    snippet_offset_sec: tf.Tensor
    duration: tf.Tensor
    video_id: tf.Tensor


def _check(ok, video_id, message):
    """Fails with `record <ids of the failing records>: message` unless every entry of `ok` holds."""
    return tf.debugging.Assert(tf.reduce_all(ok), ["record", tf.boolean_mask(video_id, tf.logical_not(ok)), message])


def parse_record_batch(examples, num_segments: int, feature_dim: int) -> RecordBatch:
    """Parses serialized records in the project schema, validates them and resamples to K segments.

    Fails the request (InvalidArgument) for a malformed record, and, naming the video ids, for a
    record with no snippets, a feature width other than `feature_dim`, a payload whose size does not
    match `num_snippets * feature_dim`, NaN or Inf features, a stride that is not finite and > 0, an
    offset that is not finite, or a duration that is not finite and >= 0.

    Args:
        examples: `[B]` serialized `tf.train.Example` records.
        num_segments: K.
        feature_dim: the model's D.

    Returns:
        `RecordBatch`.
    """
    examples = tf.convert_to_tensor(examples, tf.string)
    parsed = tf.io.parse_example(examples, {k: v for k, v in FEATURE_SPEC.items() if not isinstance(v, tf.io.VarLenFeature)})
    video_id = parsed["video_id"]
    num_snippets = parsed["num_snippets"]
    stride, offset, duration = parsed["snippet_stride_sec"], parsed["snippet_offset_sec"], parsed["duration"]
    payload_bytes = tf.cast(tf.strings.length(parsed["features"]), tf.int64)
    checks = [
        _check(num_snippets > 0, video_id, ": no snippets (T=0); at least one snippet is needed to localize"),
        _check(
            tf.equal(parsed["feature_dim"], feature_dim),
            video_id,
            f": wrong feature dimension, this model expects D={feature_dim} per snippet",
        ),
        _check(
            tf.equal(payload_bytes, num_snippets * parsed["feature_dim"] * _FLOAT32_BYTES),
            video_id,
            ": the features payload does not hold num_snippets * feature_dim float32 values",
        ),
        _check(tf.logical_and(tf.math.is_finite(stride), stride > 0), video_id, ": snippet_stride_sec must be finite and > 0"),
        _check(tf.math.is_finite(offset), video_id, ": snippet_offset_sec must be finite"),
        _check(
            tf.logical_and(tf.math.is_finite(duration), duration >= 0),
            video_id,
            ": duration must be finite and >= 0 (0 = unknown)",
        ),
    ]
    payloads = parsed["features"]
    with tf.control_dependencies(checks):
        # Payloads of one size decode in one op as they are; otherwise they are joined first (a copy).
        same_size = tf.reduce_all(tf.equal(payload_bytes, tf.reduce_max(payload_bytes)))
        flat = tf.cond(
            same_size,
            lambda: tf.reshape(tf.io.decode_raw(payloads, tf.float32, little_endian=True), [-1]),
            lambda: tf.io.decode_raw(tf.strings.reduce_join(payloads), tf.float32, little_endian=True),
        )
    features = tf.reshape(flat, [-1, feature_dim])  # [sum T, D]
    lengths = num_snippets
    ends = tf.cumsum(lengths)
    starts = ends - lengths
    record = tf.repeat(tf.range(tf.shape(lengths, out_type=tf.int64)[0]), lengths)  # record of each row
    segments = _resample(features, record, starts, lengths, num_segments, feature_dim)
    # NaN or Inf in a snippet of a video with T >= K reaches its segment's mean (every snippet is in
    # exactly one segment), so checking the [B, K, D] means spares a pass over all the snippets; a
    # video with T < K uses only some snippets, so its (fewer than K) rows are checked directly.
    # A segment's norm is non-finite when any value is, or when the squares overflow: one pass.
    finite = tf.reduce_all(tf.math.is_finite(tf.math.reduce_euclidean_norm(segments, axis=2)), axis=1)
    short_rows = tf.gather(lengths, record) < num_segments
    short_finite = tf.reduce_all(tf.math.is_finite(tf.boolean_mask(features, short_rows)), axis=-1)
    short_ok = tf.math.unsorted_segment_min(
        tf.cast(short_finite, tf.int32), tf.boolean_mask(record, short_rows), tf.shape(lengths)[0]
    ) > 0  # records without short rows get the int32 maximum: True
    message = f": features contain NaN or Inf values {TOO_LARGE}"
    with tf.control_dependencies([_check(tf.logical_and(finite, short_ok), video_id, message)]):
        segments = tf.identity(segments)
    return RecordBatch(
        segments=tf.ensure_shape(segments, [None, num_segments, feature_dim]),
        num_snippets=tf.cast(num_snippets, tf.int32),
        snippet_stride_sec=stride,
        snippet_offset_sec=offset,
        duration=duration,
        video_id=video_id,
    )


def _resample(features, record, starts, lengths, num_segments, feature_dim):
    """`[B, K, D]` segments from the concatenated `[sum T, D]` snippets of B records (T_b >= 1)."""
    batch = tf.shape(lengths, out_type=tf.int64)[0]
    k = tf.range(num_segments, dtype=tf.int64)[None, :]
    t = tf.range(tf.shape(features, out_type=tf.int64)[0]) - tf.gather(starts, record)  # position in its record
    length = tf.gather(lengths, record)
    # T >= K: snippet t belongs to the largest k with floor(k T / K) <= t, i.e. ((t + 1) K - 1) // T.
    # (Rows of T < K records get some bucket of their own record, keeping the ids sorted; those
    # segments are replaced below.)
    segment = tf.where(length >= num_segments, ((t + 1) * num_segments - 1) // length, (t * num_segments) // length)
    # Ids sorted: one sequential pass that sums and divides (the library's T >= K rule, segment_mean).
    means = tf.math.segment_mean(features, record * num_segments + segment)
    means = tf.pad(means, [[0, batch * num_segments - tf.shape(means, out_type=tf.int64)[0]], [0, 0]])
    # T < K: segment k is snippet floor(k T / K) of its record; only those rows are gathered, and
    # only when the batch has such a record (the scatter copies every segment).
    short = tf.reshape(tf.broadcast_to(lengths[:, None] < num_segments, tf.stack([batch, num_segments])), [-1])

    def with_short_records():
        first = tf.reshape(starts[:, None] + (k * lengths[:, None]) // num_segments, [-1])
        return tf.tensor_scatter_nd_update(means, tf.where(short), tf.gather(features, tf.boolean_mask(first, short)))

    segments = tf.cond(tf.reduce_any(short), with_short_records, lambda: means)
    return tf.reshape(segments, [batch, num_segments, feature_dim])

"""Batched record parsing and resampling equal the data package's per-video `resample_to_segments`."""
import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.pipeline import resample_to_segments
from iwo_tf.serving import serialize_features
from iwo_tf.serving.record_batch import parse_record_batch

K, D = 16, 5


def test_batched_resampling_equals_the_library_for_every_length():
    lengths = [1, 3, 15, 16, 17, 40, 2, 100]
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(t, D)).astype(np.float32) for t in lengths]
    records = [
        serialize_features(f"v{i}", x, snippet_stride_sec=0.5 + i, snippet_offset_sec=i, duration=10.0 * i)
        for i, x in enumerate(videos)
    ]
    batch = parse_record_batch(tf.constant(records), K, D)
    for i, x in enumerate(videos):
        np.testing.assert_allclose(
            batch.segments[i].numpy(), resample_to_segments(tf.constant(x), K, training=False).numpy(), rtol=1e-6, atol=1e-6
        )
    np.testing.assert_array_equal(batch.num_snippets.numpy(), lengths)
    np.testing.assert_allclose(batch.snippet_stride_sec.numpy(), [0.5 + i for i in range(len(lengths))])
    np.testing.assert_allclose(batch.duration.numpy(), [10.0 * i for i in range(len(lengths))])
    assert [v.decode() for v in batch.video_id.numpy()] == [f"v{i}" for i in range(len(lengths))]


@pytest.mark.parametrize(
    "bad, message",
    [
        (serialize_features("nan_video", np.full((20, D), np.nan, np.float32), snippet_stride_sec=1.0), "(?s)nan_video.*NaN or Inf"),
        (serialize_features("wide_video", np.ones((4, D + 1), np.float32), snippet_stride_sec=1.0), "(?s)wide_video.*D=5"),
        (serialize_features("empty_video", np.ones((0, D), np.float32), snippet_stride_sec=1.0), "(?s)empty_video.*T=0"),
    ],
    ids=["nan", "wrong-D", "empty"],
)
def test_bad_records_are_named(bad, message):
    good = serialize_features("good", np.ones((30, D), np.float32), snippet_stride_sec=1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        parse_record_batch(tf.constant([good, bad, good]), K, D)


@pytest.mark.parametrize("lengths", [[20, 20, 20], [7], [16, 16]], ids=["equal", "single", "equal-K"])
def test_equal_sized_payloads_decode_without_joining(lengths):
    rng = np.random.default_rng(1)
    videos = [rng.normal(size=(t, D)).astype(np.float32) for t in lengths]
    records = [serialize_features(f"v{i}", x, snippet_stride_sec=1.0) for i, x in enumerate(videos)]
    segments = parse_record_batch(tf.constant(records), K, D).segments.numpy()
    for i, x in enumerate(videos):
        np.testing.assert_allclose(segments[i], resample_to_segments(tf.constant(x), K, training=False).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("length, row, value", [(40, 17, np.inf), (40, 39, -np.inf), (5, 3, np.nan), (16, 0, np.nan)])
def test_one_non_finite_snippet_anywhere_fails_its_record(length, row, value):
    features = np.ones((length, D), np.float32)
    features[row, 2] = value
    good = serialize_features("good", np.ones((30, D), np.float32), snippet_stride_sec=1.0)
    bad = serialize_features("odd_one", features, snippet_stride_sec=1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)odd_one.*NaN or Inf"):
        parse_record_batch(tf.constant([good, bad]), K, D)

"""The exported signatures, run through the TF1 Session loader, against the library's `localize`."""
import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.pipeline import resample_to_segments
from iwo_tf.data.schema import parse_video
from iwo_tf.serving import serialize_features
from iwo_tf.winners_out import localize
from tests.serving.conftest import CLASS_NAMES, FEATURE_DIM, LOCALIZATION, NUM_CLASSES, NUM_SEGMENTS, STRIDE

MAX_DETECTIONS = LOCALIZATION["top_q"] * ((NUM_SEGMENTS + 1) // 2)


def library_localize(model, features, *, stride=STRIDE, offset=0.0, duration=0.0, **overrides):
    """What the library computes for one video, with the export's settings unless overridden."""
    settings = dict(LOCALIZATION)
    settings.update(overrides)
    segments = resample_to_segments(tf.constant(features), NUM_SEGMENTS, training=False)[None]
    result = localize(
        model,
        segments,
        num_snippets=[features.shape[0]],
        snippet_stride_sec=[stride],
        snippet_offset_sec=[offset],
        duration=[duration],
        num_steps=settings["num_steps"],
        top_q=settings["top_q"],
        segments_per_step=settings["segments_per_step"],
        method=settings["score_method"],
        stream_weights=settings["stream_weights"],
    )
    return result


def assert_same_detections(served, detections, video_scores, row=0):
    n = int(detections.num_valid[row])
    assert int(np.asarray(served["num_valid"])) == n
    np.testing.assert_array_equal(served["class_index"][:n], detections.class_index[row, :n])
    for key in ("score", "start_sec", "end_sec"):
        np.testing.assert_allclose(served[key][:n], getattr(detections, key)[row, :n], atol=1e-5, err_msg=key)
        assert not np.any(served[key][n:]), f"{key} padding is not zero"
    np.testing.assert_allclose(served["video_scores"], video_scores[row], atol=1e-5)
    names = [name.decode() for name in served["class_name"]]
    assert names[:n] == [CLASS_NAMES[i] for i in served["class_index"][:n]]
    assert names[n:] == [""] * (len(names) - n)


def features_of(num_snippets, seed=0):
    return np.random.default_rng(seed).normal(size=(num_snippets, FEATURE_DIM)).astype(np.float32)


@pytest.mark.parametrize("num_snippets", [1, 7, NUM_SEGMENTS, 45])
def test_localize_defaults_match_library(served, model, num_snippets):
    features = features_of(num_snippets, seed=num_snippets)
    out = served.run("localize", features=features)
    assert out["class_index"].shape == (MAX_DETECTIONS,) and out["video_scores"].shape == (NUM_CLASSES,)
    reference = library_localize(model, features)
    assert int(reference.detections.num_valid[0]) > 0
    assert_same_detections(out, reference.detections, reference.video_scores)


def test_localize_optional_inputs_match_library(served, model):
    features = features_of(30, seed=3)
    out = served.run(
        "localize_with_options",
        features=features,
        num_steps=np.int32(2),
        top_q=np.int32(1),
        segments_per_step=np.int32(5),
        snippet_stride_sec=np.float32(0.25),
        snippet_offset_sec=np.float32(1.5),
        duration=np.float32(8.0),
    )
    reference = library_localize(
        model, features, num_steps=2, top_q=1, segments_per_step=5, stride=0.25, offset=1.5, duration=8.0
    )
    assert_same_detections(out, reference.detections, reference.video_scores)
    assert set(out["class_index"][: out["num_valid"]]) == {int(reference.class_indices[0, 0])}
    assert out["end_sec"].max() <= 8.0 and out["start_sec"][: out["num_valid"]].min() >= 1.5


@pytest.mark.slow
def test_localize_very_long_video_matches_library(served, model):
    features = features_of(100_000, seed=4)
    out = served.run("localize", features=features)
    reference = library_localize(model, features)
    assert_same_detections(out, reference.detections, reference.video_scores)
    assert out["end_sec"].max() <= 100_000 * STRIDE + 1e-2


def test_zero_steps_or_classes_give_empty_detections(served):
    features = features_of(20)
    for inputs in ({"num_steps": np.int32(0)}, {"top_q": np.int32(0)}, {"segments_per_step": np.int32(0)}):
        out = served.run("localize_with_options", features=features, **inputs)
        assert out["num_valid"] == 0, inputs
        assert not out["score"].any() and set(out["class_name"]) == {b""}


def test_huge_num_steps_is_capped_without_changing_the_result(served):
    features = features_of(20)
    capped = served.run("localize_with_options", features=features, num_steps=np.int32(NUM_SEGMENTS), segments_per_step=np.int32(1))
    huge = served.run("localize_with_options", features=features, num_steps=np.int32(2**31 - 1), segments_per_step=np.int32(1))
    for key in capped:
        np.testing.assert_array_equal(capped[key], huge[key])


@pytest.mark.parametrize(
    "features, inputs, message",
    [
        (np.zeros((0, FEATURE_DIM), np.float32), {}, "T=0"),
        (features_of(5)[:, :-1], {}, f"D={FEATURE_DIM}"),
        (np.where(np.eye(5, FEATURE_DIM) > 0, np.nan, features_of(5)).astype(np.float32), {}, "NaN or Inf"),
        (np.where(np.eye(5, FEATURE_DIM) > 0, np.inf, features_of(5)).astype(np.float32), {}, "NaN or Inf"),
        (features_of(5), {"top_q": np.int32(LOCALIZATION["top_q"] + 1)}, "top_q must be <="),
        (features_of(5), {"num_steps": np.int32(-1)}, "num_steps must be >= 0"),
        (features_of(5), {"segments_per_step": np.int32(-3)}, "segments_per_step must be >= 0"),
        (features_of(5), {"duration": np.float32(-1.0)}, "duration must be finite and >= 0"),
        (features_of(5), {"snippet_stride_sec": np.float32(np.nan)}, "snippet_stride_sec must be finite"),
    ],
    ids=["T=0", "wrong-D", "NaN", "Inf", "top_q", "num_steps", "p", "duration", "stride"],
)
def test_bad_localize_inputs_are_invalid_argument(served, features, inputs, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served.run("localize_with_options", features=features, **inputs)


def test_serving_default_matches_library_per_record(served, model):
    videos = [features_of(t, seed=t) for t in (1, 9, 40)]
    strides = [0.5, 0.25, 1.0]
    records = [serialize_features(f"vid_{i}", x, snippet_stride_sec=s) for i, (x, s) in enumerate(zip(videos, strides))]
    out = served.run("serving_default", examples=np.asarray(records, dtype=object))
    assert [v.decode() for v in out["video_id"]] == ["vid_0", "vid_1", "vid_2"]
    assert out["class_index"].shape == (3, MAX_DETECTIONS)
    for row, (x, stride) in enumerate(zip(videos, strides)):
        video = parse_video(tf.constant(records[row]))
        reference = library_localize(model, video["features"].numpy(), stride=stride, duration=float(video["duration"]))
        assert_same_detections({k: v[row] for k, v in out.items()}, reference.detections, reference.video_scores)


def test_serving_default_empty_batch(served):
    out = served.run("serving_default", examples=np.asarray([], dtype=object))
    assert out["num_valid"].shape == (0,) and out["class_index"].shape == (0, MAX_DETECTIONS)


@pytest.mark.parametrize(
    "record, message",
    [
        (b"definitely not a tf.Example", None),
        (serialize_features("empty", np.zeros((0, FEATURE_DIM), np.float32), snippet_stride_sec=1.0), "T=0|snippet"),
        (serialize_features("nan", np.full((4, FEATURE_DIM), np.nan, np.float32), snippet_stride_sec=1.0), "NaN or Inf"),
        (serialize_features("narrow", features_of(4)[:, :3], snippet_stride_sec=1.0), None),
    ],
    ids=["garbage", "T=0", "NaN", "wrong-D"],
)
def test_bad_records_are_invalid_argument(served, record, message):
    good = serialize_features("good", features_of(8), snippet_stride_sec=1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served.run("serving_default", examples=np.asarray([good, record], dtype=object))


def test_library_localize_traces_with_unknown_batch_and_one_class(model):
    """The shape the `serving_default` export traces: batch unknown, static top_q = 1."""
    fn = tf.function(
        lambda segments: localize(
            model, segments, num_snippets=[9], snippet_stride_sec=[1.0], snippet_offset_sec=[0.0], duration=[0.0],
            num_steps=2, top_q=1, segments_per_step=3,
        ).detections.num_valid,
        input_signature=[tf.TensorSpec([None, NUM_SEGMENTS, FEATURE_DIM], tf.float32)],
    )
    assert fn(tf.ones([1, NUM_SEGMENTS, FEATURE_DIM])).shape == (1,)

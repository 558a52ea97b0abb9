"""Incremental winners-out steps give the detections of the reference `localize`, re-anchoring included."""
import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.model import IWOClassifier
from iwo_tf.winners_out import localize, localize_incremental

K = 24


def make_model(stream_dims, shifting_bias, seed=0, pooling="attention", bias_scale=0.5):
    tf.keras.utils.set_random_seed(seed)
    model = IWOClassifier(
        5, num_segments=K, stream_dims=stream_dims, num_modules=3, use_shifting_bias=shifting_bias, pooling=pooling
    )
    model.build()
    rng = np.random.default_rng(seed + 1)
    for variable in model.weights:
        if "position_bias" in variable.path or variable.path.endswith("bias"):
            variable.assign(rng.normal(0, bias_scale, variable.shape).astype("float32"))
    return model


def settings(batch, stream_dims, method, **overrides):
    out = dict(
        num_snippets=[40, 30, 5, 24][:batch],
        snippet_stride_sec=[0.64] * batch,
        snippet_offset_sec=[0.0] * batch,
        duration=[0.0] * batch,
        num_steps=5,
        top_q=2,
        segments_per_step=4,
        method=method,
        stream_weights=(1.0, 10.0)[: len(stream_dims)],
    )
    out.update(overrides)
    return out


def assert_identical(reference, incremental):
    np.testing.assert_array_equal(reference.class_indices.numpy(), incremental.class_indices.numpy())
    np.testing.assert_array_equal(
        reference.selection.selection_step.numpy(), incremental.selection.selection_step.numpy()
    )
    np.testing.assert_allclose(reference.selection.scores.numpy(), incremental.selection.scores.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reference.video_scores.numpy(), incremental.video_scores.numpy(), rtol=1e-5, atol=1e-7)
    a, b = reference.detections, incremental.detections
    np.testing.assert_array_equal(a.num_valid.numpy(), b.num_valid.numpy())
    np.testing.assert_array_equal(a.class_index.numpy(), b.class_index.numpy())
    for key in ("score", "start_sec", "end_sec"):
        np.testing.assert_allclose(getattr(a, key).numpy(), getattr(b, key).numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("stream_dims", [(6, 4), (10,)], ids=["two-streams", "one-stream"])
@pytest.mark.parametrize("shifting_bias", [False, True], ids=["no-bias", "shifting-bias"])
@pytest.mark.parametrize("method", ["csc", "attention"])
@pytest.mark.parametrize("unroll_steps", [False, True], ids=["loop", "unrolled"])
def test_incremental_equals_reference(stream_dims, shifting_bias, method, unroll_steps):
    model = make_model(stream_dims, shifting_bias)
    features = np.random.default_rng(5).normal(size=(3, K, sum(stream_dims))).astype("float32")
    kwargs = settings(3, stream_dims, method)
    incremental = localize_incremental(model, features, unroll_steps=unroll_steps, **kwargs)
    assert_identical(localize(model, features, **kwargs), incremental)


def test_incremental_in_graph_with_dynamic_steps_keep_mask_and_active_classes():
    model = make_model((6, 4), False, seed=2)
    features = np.random.default_rng(7).normal(size=(4, K, 10)).astype("float32")
    keep = np.ones((4, K), "float32")
    keep[1, :7] = 0
    keep[2, 3:] = 0  # fewer segments than p * steps: the last steps take what is left, then nothing
    features[1, :7] = np.nan  # removed segments never reach any arithmetic
    kwargs = settings(4, (6, 4), "csc", keep_mask=keep, num_active_classes=tf.constant(1))

    spec = [tf.TensorSpec([4, K, 10], tf.float32), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)]
    reference, incremental = (
        tf.function(lambda x, s, q, fn=fn: fn(model, x, **dict(kwargs, num_steps=s, segments_per_step=q)), input_signature=spec)
        for fn in (localize, localize_incremental)
    )
    for steps, p in [(3, 5), (K, 1), (0, 4), (2, 0)]:
        args = (features, tf.constant(steps), tf.constant(p))
        assert_identical(reference(*args), incremental(*args))


def test_peaky_attention_forces_reanchoring_and_stays_identical():
    """Large position biases make the remaining attention mass collapse by orders of magnitude as
    winners leave: the running sums must re-anchor (or lose every digit) to match the reference."""
    model = make_model((6, 4), False, seed=4, bias_scale=12.0)
    features = np.random.default_rng(9).normal(size=(3, K, 10)).astype("float32")
    for method in ("csc", "attention"):
        kwargs = settings(3, (6, 4), method, num_steps=K, segments_per_step=1)
        assert_identical(localize(model, features, **kwargs), localize_incremental(model, features, **kwargs))


def test_mean_pooling_takes_the_reference_path():
    model = make_model((6, 4), False, pooling="mean")
    features = np.random.default_rng(3).normal(size=(2, K, 10)).astype("float32")
    kwargs = settings(2, (6, 4), "csc")
    assert_identical(localize(model, features, **kwargs), localize_incremental(model, features, **kwargs))


def test_check_finite_turns_overflowing_scores_into_an_error():
    model = make_model((6, 4), False)
    features = np.full((1, K, 10), 3e38, "float32")
    kwargs = settings(1, (6, 4), "csc")
    reference = localize(model, features, **kwargs)
    assert not np.isfinite(reference.video_scores.numpy()).all()  # what the reference silently returns
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-finite class scores"):
        localize_incremental(model, features, check_finite=True, **kwargs)


@pytest.mark.parametrize("localize_function", [localize, localize_incremental], ids=["reference", "incremental"])
def test_one_weight_per_stream_or_an_error_on_both_paths(localize_function):
    model = make_model((6, 4), False)
    features = tf.random.stateless_normal([1, K, 10], seed=[1, 2])
    with pytest.raises(ValueError, match="2 streams but 1 stream weights"):
        localize_function(model, features, **settings(1, (6, 4), "csc", stream_weights=(1.0,)))

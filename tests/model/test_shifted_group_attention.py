"""Eqs. 3-5: the attention layer against NumPy, masking, bad input and the layer contract."""
import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.model import ReplicatedMeanPooling, ShiftedGroupAttention, attention_orthogonality_penalty
from tests.model import reference
from tests.model.layer_test_case import run_layer_contract

K, D, M = 12, 5, 3


def _layer(**kwargs):
    layer = ShiftedGroupAttention(num_modules=M, num_segments=K, **kwargs)
    layer.build((None, K, D))
    rng = np.random.default_rng(0)
    layer.kernel.assign(rng.normal(size=(D, M)).astype("float32"))
    layer.position_bias.assign(rng.normal(size=(M, K)).astype("float32"))
    layer.alpha.assign(np.array([1.5, -0.7, 0.3], "float32"))
    if layer.shifting_bias is not None:
        layer.shifting_bias.assign(np.array([0.2, -0.1, 0.4], "float32"))
    return layer


@pytest.mark.parametrize("use_shifting_bias", [False, True])
def test_attention_matches_numpy(use_shifting_bias):
    layer = _layer(use_shifting_bias=use_shifting_bias)
    rng = np.random.default_rng(1)
    h = rng.normal(size=(4, K, D)).astype("float32")
    keep = rng.random((4, K)) > 0.4
    terms = layer.attend(h, keep.astype("float32"))
    beta = layer.shifting_bias.numpy() if use_shifting_bias else None
    for b in range(4):
        a, scale, v = reference.stream_terms(
            h[b], layer.kernel.numpy(), layer.position_bias.numpy(), layer.alpha.numpy(), keep[b], beta
        )
        np.testing.assert_allclose(terms.attention[b, 0], a, atol=1e-6)
        np.testing.assert_allclose(terms.scale[b, 0], scale, rtol=1e-5)
        np.testing.assert_allclose(terms.module_outputs[b, 0], v, atol=1e-6)
    g = layer(h, keep.astype("float32"))
    np.testing.assert_allclose(g, np.reshape(terms.module_outputs[:, 0], (4, M * D)), atol=1e-7)


def test_removed_segments_get_zero_attention_and_no_influence():
    layer = _layer()
    rng = np.random.default_rng(2)
    h = rng.normal(size=(2, K, D)).astype("float32")
    keep = np.ones((2, K), "float32")
    keep[:, [0, 3, 4, 11]] = 0
    terms = layer.attend(h, keep)
    assert np.all(terms.attention.numpy()[:, 0][:, :, keep[0] == 0] == 0.0)
    np.testing.assert_allclose(terms.attention.numpy().sum(-1), 1.0, atol=1e-6)
    changed = h.copy()
    changed[:, [0, 3, 4, 11]] = rng.normal(size=(2, 4, D)) * 100
    np.testing.assert_array_equal(layer(h, keep), layer(changed, keep))
    # Even non-finite values on removed segments cannot leak into the output.
    changed[:, 0] = np.nan
    changed[:, 3] = np.inf
    out = layer(changed, keep).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, layer(h, keep), atol=1e-7)


def test_all_removed_mask_gives_zero_output_not_nan():
    layer = _layer()
    h = np.random.default_rng(3).normal(size=(2, K, D)).astype("float32")
    keep = np.zeros((2, K), "float32")
    terms = layer.attend(h, keep)
    assert np.all(terms.attention.numpy() == 0)
    assert np.all(layer(h, keep).numpy() == 0)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(layer(h, keep, training=True)) + tf.add_n(layer.losses)
    grads = tape.gradient(out, layer.trainable_variables)
    assert all(np.isfinite(g.numpy()).all() for g in grads if g is not None)


def test_per_class_masks_broadcast():
    layer = _layer()
    rng = np.random.default_rng(4)
    h = rng.normal(size=(2, K, D)).astype("float32")
    masks = (rng.random((2, 3, K)) > 0.5).astype("float32")
    terms = layer.attend(h, masks)
    assert terms.attention.shape == (2, 3, M, K)
    for q in range(3):
        single = layer.attend(h, masks[:, q])
        np.testing.assert_allclose(terms.attention[:, q], single.attention[:, 0], atol=1e-7)


@pytest.mark.parametrize(
    "features_shape, mask_shape, message",
    [((2, K, D + 1), (2, K), "dimensions"), ((2, K + 3, D), (2, K + 3), "segments"), ((2, K, D), (2, K - 1), "keep-mask")],
)
def test_bad_input_gives_clear_errors(features_shape, mask_shape, message):
    layer = _layer()
    with pytest.raises(ValueError, match=message):
        layer(np.zeros(features_shape, "float32"), np.ones(mask_shape, "float32"))


def test_orthogonality_penalty_matches_numpy():
    a = np.random.default_rng(5).random((3, M, K)).astype("float32")
    expected = np.mean([np.sum((x @ x.T - np.eye(M)) ** 2) for x in a])
    np.testing.assert_allclose(attention_orthogonality_penalty(a), expected, rtol=1e-5)
    layer = _layer(orthogonality_weight=0.1)
    h = np.random.default_rng(6).normal(size=(2, K, D)).astype("float32")
    layer(h, training=True)
    att = layer.attend(h).attention[:, 0].numpy()
    np.testing.assert_allclose(layer.losses[-1], 0.1 * np.mean([np.sum((x @ x.T - np.eye(M)) ** 2) for x in att]), rtol=1e-5)


def test_replicated_mean_pooling_is_masked_mean():
    layer = ReplicatedMeanPooling(num_modules=M, num_segments=K)
    layer.build((None, K, D))
    rng = np.random.default_rng(7)
    h = rng.normal(size=(2, K, D)).astype("float32")
    keep = (rng.random((2, K)) > 0.3).astype("float32")
    out = layer(h, keep).numpy().reshape(2, M, D)
    for b in range(2):
        mean = h[b][keep[b] > 0].mean(axis=0)
        for m in range(M):
            np.testing.assert_allclose(out[b, m], mean, atol=1e-6)


@pytest.mark.parametrize(
    "layer_cls, kwargs",
    [
        (ShiftedGroupAttention, {"num_modules": M, "num_segments": K}),
        (ShiftedGroupAttention, {"num_modules": M, "num_segments": K, "use_shifting_bias": True}),
        (ReplicatedMeanPooling, {"num_modules": M, "num_segments": K}),
    ],
)
def test_layer_contract(layer_cls, kwargs, tmp_path):
    run_layer_contract(layer_cls, kwargs, input_shape=(4, K, D), tmp_path=tmp_path)

"""The classifier (Eq. 5, Fig. 5), the loss (Eq. 6) and CSC (Eqs. 7-10) against NumPy."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.model import IWOClassifier, NormalizedLabelCrossEntropy, normalized_label_cross_entropy
from tests.model import reference

K, C, M = 16, 4, 3


def _model(stream_dims=(6, 4), pooling="attention", use_shifting_bias=False, seed=0):
    keras.utils.set_random_seed(seed)
    model = IWOClassifier(
        C, num_segments=K, stream_dims=stream_dims, num_modules=M, dropout_rate=0.5,
        pooling=pooling, use_shifting_bias=use_shifting_bias,
    )
    model.build()
    rng = np.random.default_rng(seed)
    for var in model.weights:
        var.assign(rng.normal(size=var.shape).astype("float32"))  # random signs for alpha and beta too
    return model


def _inputs(stream_dims, batch=3, seed=1):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(batch, K, sum(stream_dims))).astype("float32")
    mask = (rng.random((batch, K)) > 0.35).astype("float32")
    return features, mask


@pytest.mark.parametrize("stream_dims", [(6, 4), (7,), (3, 2, 4)])
@pytest.mark.parametrize("pooling", ["attention", "mean"])
def test_eq7_identity_terms_sum_to_logit_minus_bias(stream_dims, pooling):
    model = _model(stream_dims, pooling)
    for seed in range(3):
        features, mask = _inputs(stream_dims, seed=seed)
        logits = model({"features": features, "mask": mask}, training=False).numpy()
        terms = tf.add_n(model.csc_terms_per_stream(features, mask)).numpy()  # [B, C, K]
        np.testing.assert_allclose(terms.sum(-1), logits - model.classifier_head.bias.numpy(), atol=2e-5)


def test_eq7_with_shifting_bias_differs_by_the_bias_term_only():
    model = _model(use_shifting_bias=True)
    features, mask = _inputs((6, 4))
    logits = model({"features": features, "mask": mask}).numpy()
    terms = tf.add_n(model.csc_terms_per_stream(features, mask)).numpy().sum(-1)
    shift = 0.0
    for pooling, stream, z in zip(model.stream_poolings, tf.split(features, [6, 4], -1), model.module_class_kernels()):
        scale = pooling.attend(stream, mask).scale[:, 0].numpy()  # alpha / (sqrt(M) norm)
        beta_over = pooling.shifting_bias.numpy() / pooling.alpha.numpy() * scale  # beta / (sqrt(M) norm)
        shift = shift + np.einsum("bm,mc->bc", beta_over, z.numpy().sum(axis=1))
    np.testing.assert_allclose(terms + shift, logits - model.classifier_head.bias.numpy(), atol=2e-5)


def test_csc_matches_independent_numpy():
    model = _model()
    features, mask = _inputs((6, 4))
    classes = np.array([[2, 0], [1, 1], [3, 2]], "int32")
    gamma = 10.0
    scores = model.make_segment_scorer(features, classes, stream_weights=(1.0, gamma))(mask).numpy()
    kernels = [k.numpy() for k in model.module_class_kernels()]
    streams = np.split(features, [6], axis=-1)
    for b in range(3):
        fused = 0.0
        for s, (pooling, h, z) in enumerate(zip(model.stream_poolings, streams, kernels)):
            a, scale, _ = reference.stream_terms(
                h[b], pooling.kernel.numpy(), pooling.position_bias.numpy(), pooling.alpha.numpy(), mask[b] > 0
            )
            lam = np.maximum(reference.csc_pre_relu(h[b], a, scale, z), 0.0)  # Eq. 8, [C, K]
            fused = fused + (1.0 if s == 0 else gamma) * lam  # Eq. 10
        np.testing.assert_allclose(scores[b], fused[classes[b]], rtol=1e-4, atol=1e-5)
    assert np.all(scores[:, :, mask[0] == 0][0] == 0)  # removed segments score 0


def test_cam_switch_equals_hand_computed_mean_pooling_cam():
    model = _model(pooling="mean")
    features, mask = _inputs((6, 4))
    scores = model.make_segment_scorer(features, None)(mask).numpy()  # all classes: [B, C, K]
    w = model.classifier_head.kernel.numpy()
    streams = np.split(features, [6], axis=-1)
    for b in range(3):
        kept = mask[b] > 0
        cam = 0.0
        offset = 0
        for h in streams:
            dim = h.shape[-1]
            w_stream = w[offset: offset + M * dim].reshape(M, dim, C).sum(axis=0)  # replicated M times
            offset += M * dim
            stream_cam = (h[b] @ w_stream).T / kept.sum()  # CAM of Zhou et al. per segment
            cam = cam + np.maximum(stream_cam, 0.0)  # Eqs. 8 and 10: ReLU per stream, then the sum
        expected = np.where(kept[None], cam, 0.0)
        np.testing.assert_allclose(scores[b], expected, rtol=1e-4, atol=1e-6)


def test_attention_score_method_is_mean_attention():
    model = _model()
    features, mask = _inputs((6, 4))
    scores = model.make_segment_scorer(features, np.zeros((3, 1), "int32"), method="attention")(mask).numpy()
    expected = sum(t.attention.numpy().mean(axis=2) for t in model.attend_streams(features, mask))
    np.testing.assert_allclose(scores, expected, atol=1e-7)


def test_all_removed_mask_is_defined():
    model = _model()
    features, _ = _inputs((6, 4))
    mask = np.zeros((3, K), "float32")
    logits = model({"features": features, "mask": mask}).numpy()
    np.testing.assert_allclose(logits, np.broadcast_to(model.classifier_head.bias.numpy(), logits.shape), atol=1e-6)
    scores = model.make_segment_scorer(features, None)(mask).numpy()
    assert np.all(scores == 0)


def test_wrong_feature_dimension_is_a_clear_error():
    model = _model()
    with pytest.raises(ValueError, match="expected 10"):
        model({"features": np.zeros((1, K, 11), "float32"), "mask": np.ones((1, K), "float32")})


def test_normalized_label_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, C)).astype("float32")
    labels = np.array([[1, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], "float32")
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = labels / np.maximum(labels.sum(-1, keepdims=True), 1)
    np.testing.assert_allclose(normalized_label_cross_entropy(labels, logits), -(targets * log_p).sum(-1), rtol=1e-5)


def test_keras_round_trip_and_one_step_lowers_the_loss(tmp_path):
    model = _model()
    for var in model.weights:
        var.assign(var.numpy() * 0.1)
    features, mask = _inputs((6, 4), batch=8)
    labels = np.eye(C, dtype="float32")[np.arange(8) % C]
    inputs = {"features": features, "mask": mask}
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=NormalizedLabelCrossEntropy())

    def loss_value():
        return float(np.mean(normalized_label_cross_entropy(labels, model(inputs, training=False))))

    before = loss_value()
    model.fit(inputs, labels, epochs=1, batch_size=8, verbose=0, shuffle=False)
    assert loss_value() < before

    path = tmp_path / "iwo.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(restored(inputs), model(inputs), atol=1e-6)
    restored_scores = restored.make_segment_scorer(features, None)(mask)
    np.testing.assert_allclose(restored_scores, model.make_segment_scorer(features, None)(mask), atol=1e-6)

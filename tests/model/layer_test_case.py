"""A keras-hub style contract every layer of the project goes through: build, call, fit, round trip."""
import keras
import numpy as np


def run_layer_contract(layer_cls, init_kwargs, input_shape, tmp_path):
    """Builds the layer, calls it, trains it inside a tiny model, and round-trips it through `.keras`."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=input_shape).astype("float32")
    mask = (rng.random(input_shape[:2]) > 0.2).astype("float32")

    layer = layer_cls(**init_kwargs)
    outputs = layer(features, mask)
    assert tuple(outputs.shape) == tuple(layer.compute_output_shape(input_shape))

    clone = layer_cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()

    feature_input = keras.Input(shape=input_shape[1:], name="features")
    mask_input = keras.Input(shape=input_shape[1:2], name="mask")
    pooled = layer_cls(**init_kwargs)(feature_input, mask_input)
    logits = keras.layers.Dense(3)(pooled)
    model = keras.Model({"features": feature_input, "mask": mask_input}, logits)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    labels = np.eye(3, dtype="float32")[rng.integers(0, 3, size=input_shape[0])]
    inputs = {"features": features, "mask": mask}
    history = model.fit(inputs, labels, epochs=3, batch_size=input_shape[0], verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()

    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), model.predict(inputs, verbose=0), atol=1e-6)

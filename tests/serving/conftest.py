"""Shared fixtures: a tiny trained-looking run, its export, and the export loaded like TF Serving loads it."""
import json

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.model import IWOClassifier

# Small dims keep the suite fast; K is even so that ceil(K / 2) proposals per class is exercised.
NUM_CLASSES = 5
NUM_SEGMENTS = 16
STREAM_DIMS = (6, 4)
FEATURE_DIM = sum(STREAM_DIMS)
CLASS_NAMES = [f"action_{i}" for i in range(NUM_CLASSES)]
LOCALIZATION = {"num_steps": 4, "top_q": 2, "segments_per_step": 3, "stream_weights": [1.0, 10.0], "score_method": "csc"}
STRIDE = 0.5


def make_model(seed=0):
    """A random-init classifier with non-degenerate biases (so classes and positions differ)."""
    tf.keras.utils.set_random_seed(seed)
    model = IWOClassifier(
        num_classes=NUM_CLASSES, num_segments=NUM_SEGMENTS, stream_dims=STREAM_DIMS, num_modules=3, dropout_rate=0.5
    )
    model.build()
    rng = np.random.default_rng(seed + 1)
    for variable in model.weights:
        if "position_bias" in variable.path or variable.path.endswith("bias"):
            variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))
    return model


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A fake training workdir: `model.keras` + `run_config.json`, as the trainer leaves them."""
    path = tmp_path_factory.mktemp("run")
    model = make_model()
    model.save(path / "model.keras")
    config = {
        "model": model.get_config(),
        "localization": dict(LOCALIZATION, snippet_stride_sec=STRIDE),
        "class_names": CLASS_NAMES,
        "data_dir": "unused",
    }
    (path / "run_config.json").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def model(workdir):
    import keras

    return keras.models.load_model(workdir / "model.keras")


@pytest.fixture(scope="session")
def export_base(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def version_dir(workdir, export_base):
    """The run exported through the CLI's Python entry point (what `python -m export...` runs)."""
    from export.export_saved_model import export_run

    return export_run(str(workdir), str(export_base), "iwo", serving_base_path="/models")


class LoadedSignatures:
    """A SavedModel loaded with the TF1 Session loader, the path TF Serving's C++ loader takes."""

    def __init__(self, path):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            self.meta_graph = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], path)

    def run(self, signature_name, **inputs):
        signature = self.meta_graph.signature_def[signature_name]
        unknown = set(inputs) - set(signature.inputs)
        assert not unknown, f"not inputs of {signature_name}: {unknown}"
        feeds = {signature.inputs[name].name: value for name, value in inputs.items()}
        fetches = {name: info.name for name, info in signature.outputs.items()}
        return self.session.run(fetches, feeds)


@pytest.fixture(scope="session")
def served(version_dir):
    loaded = LoadedSignatures(version_dir)
    yield loaded
    loaded.session.close()

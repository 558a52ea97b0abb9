"""Synthetic snippet features with the winner-takes-all problem: the embedded default dataset and
THUMOS14 / ActivityNet1.3-scale presets.

    python -m iwo_tf.data.synthetic --output=data/synthetic [--seed=0]
    python -m iwo_tf.data.synthetic --preset=thumos14 --output=data/thumos14_synthetic
    python -m iwo_tf.data.synthetic --layout_from=thumos14.json --snippet_rate=1.5625 --output=DIR

`feature_model` documents the feature model and its knobs, `layouts` the preset statistics.
"""
from iwo_tf.data.synthetic.feature_model import (
    ASYMMETRIC_STREAMS,
    BACKGROUND,
    STRONG,
    SYMMETRIC_STREAMS,
    WEAK,
    SyntheticSpec,
    synthesize_features,
)
from iwo_tf.data.synthetic.directions import Directions, make_directions
from iwo_tf.data.synthetic.generator import PARTS_JSON, class_names, generate_synthetic_dataset, load_snippet_parts
from iwo_tf.data.synthetic.layouts import VideoLayout
from iwo_tf.data.synthetic.presets import ACTIVITYNET13, PRESETS, THUMOS14, PresetStatistics

__all__ = [
    "ACTIVITYNET13", "ASYMMETRIC_STREAMS", "BACKGROUND", "Directions", "PARTS_JSON", "PRESETS", "PresetStatistics",
    "STRONG", "SYMMETRIC_STREAMS", "SyntheticSpec", "THUMOS14", "VideoLayout", "WEAK", "class_names",
    "generate_synthetic_dataset", "load_snippet_parts", "make_directions", "synthesize_features",
]

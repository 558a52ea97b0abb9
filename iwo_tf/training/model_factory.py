"""The model and optimizer a config describes."""
from __future__ import annotations

import keras

from iwo_tf.model import IWOClassifier

OPTIMIZERS = ("sgd", "adam")


def build_model(config, num_classes: int, stream_dims) -> IWOClassifier:
    """The IWO classifier described by `config.model` and the dataset, built.

    Args:
        config: the experiment config (`data.num_segments` and the `model` section).
        num_classes: C.
        stream_dims: widths of the feature streams.
    """
    model = IWOClassifier(
        num_classes=num_classes,
        num_segments=config.data.num_segments,
        stream_dims=tuple(stream_dims),
        num_modules=config.model.num_modules,
        dropout_rate=config.model.dropout_rate,
        pooling=config.model.pooling,
        use_shifting_bias=config.model.use_shifting_bias,
        orthogonality_weight=config.model.orthogonality_weight,
    )
    model.build()
    return model


def build_optimizer(optimizer_config) -> keras.optimizers.Optimizer:
    """The optimizer named by `config.optimizer.name` (sgd: with `momentum`; adam: Keras defaults).

    Args:
        optimizer_config: the config's `optimizer` section.
    """
    name = optimizer_config.get("name", "sgd")
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=optimizer_config.learning_rate, momentum=optimizer_config.momentum)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=optimizer_config.learning_rate)
    raise ValueError(f"config.optimizer.name={name!r}: expected one of {', '.join(OPTIMIZERS)}")

"""The two-stream IWO classifier (Eq. 5 and Fig. 5) and its segment scoring (Eqs. 7-10)."""
from __future__ import annotations

from typing import Callable, Sequence

import keras
import tensorflow as tf

from iwo_tf.model import csc
from iwo_tf.model.replicated_mean_pooling import ReplicatedMeanPooling
from iwo_tf.model.shifted_group_attention import ShiftedGroupAttention

POOLING_CHOICES = ("attention", "mean")
SCORE_METHODS = ("csc", "attention")


@keras.saving.register_keras_serializable(package="iwo_tf")
class IWOClassifier(keras.Model):
    """Per-stream group attention, concatenation, dropout and a fully connected layer (Fig. 5).

    The input features `[B, K, sum(stream_dims)]` are split into streams (e.g. RGB then flow);
    each stream runs its own `ShiftedGroupAttention` (or, for the CAM baseline, a
    `ReplicatedMeanPooling`), the outputs are concatenated into `g_final` (Eq. 5), passed through
    dropout and a dense layer to C class logits. The softmax of Eq. 5 is applied by the loss and by
    `video_class_scores`, so `call` returns logits.

    Args:
        num_classes: C.
        num_segments: K.
        stream_dims: feature dimension of each stream, in the order they are concatenated in the
            input (the paper: `(1024, 1024)` for RGB, flow). One stream works too.
        num_modules: M, attention modules per stream.
        dropout_rate: dropout on `g_final` while training (paper: 0.8).
        pooling: `"attention"` (the paper) or `"mean"` (the CAM baseline of Table V).
        use_shifting_bias: the Table VII variant with the Attention-Clusters bias beta.
        orthogonality_weight: beta of Eq. 6.
        **kwargs: standard Keras model arguments.

    Call arguments:
        inputs: a dict with `"features"` `[B, K, D]` and optionally `"mask"` `[B, K]` float
            (> 0 = kept by winners-out), or a features tensor alone.
        training: whether dropout and the attention regulariser are active.

    Reference:
        Zeng et al., IEEE TIP 2019, Sec. III-C and IV-A, Fig. 5.
    """

    def __init__(
        self,
        num_classes,
        num_segments=400,
        stream_dims=(1024, 1024),
        num_modules=18,
        dropout_rate=0.8,
        pooling="attention",
        use_shifting_bias=False,
        orthogonality_weight=0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pooling not in POOLING_CHOICES:
            raise ValueError(f"pooling must be one of {POOLING_CHOICES}, got {pooling!r}")
        stream_dims = tuple(int(d) for d in stream_dims)
        if not stream_dims or min(stream_dims) < 1:
            raise ValueError(f"stream_dims must be positive dimensions, got {stream_dims}")
        self.num_classes = int(num_classes)
        self.num_segments = int(num_segments)
        self.stream_dims = stream_dims
        self.num_modules = int(num_modules)
        self.dropout_rate = float(dropout_rate)
        self.pooling = pooling
        self.use_shifting_bias = bool(use_shifting_bias)
        self.orthogonality_weight = float(orthogonality_weight)
        self.feature_dim = sum(stream_dims)
        if pooling == "attention":
            self.stream_poolings = [
                ShiftedGroupAttention(
                    num_modules=self.num_modules,
                    num_segments=self.num_segments,
                    use_shifting_bias=self.use_shifting_bias,
                    orthogonality_weight=self.orthogonality_weight,
                    name=f"stream{i}_attention",
                )
                for i in range(len(stream_dims))
            ]
        else:
            self.stream_poolings = [
                ReplicatedMeanPooling(self.num_modules, self.num_segments, name=f"stream{i}_mean_pooling")
                for i in range(len(stream_dims))
            ]
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        self.classifier_head = keras.layers.Dense(self.num_classes, name="classifier_head")

    # --- building and the forward pass -------------------------------------------------------
    def build(self, input_shape=None):
        for pooling, dim in zip(self.stream_poolings, self.stream_dims):
            pooling.build((None, self.num_segments, dim))
        self.classifier_head.build((None, self.num_modules * self.feature_dim))
        self.built = True

    def _unpack(self, inputs):
        if isinstance(inputs, dict):
            return inputs["features"], inputs.get("mask")
        return inputs, None

    def split_streams(self, features):
        """Splits `[B, K, D]` features into the per-stream `[B, K, D_s]` tensors."""
        features = tf.convert_to_tensor(features, dtype=self.compute_dtype)
        if features.shape.rank != 3:
            raise ValueError(f"features must be [batch, segments, dims], got shape {features.shape}")
        if features.shape[-1] is not None and features.shape[-1] != self.feature_dim:
            raise ValueError(
                f"features have {features.shape[-1]} dimensions, expected {self.feature_dim} "
                f"(stream_dims={list(self.stream_dims)})"
            )
        return tf.split(features, self.stream_dims, axis=-1)

    def attend_streams(self, features, keep_mask=None):
        """Runs each stream's attention (Eqs. 3-4); returns a list of `AttentionTerms`."""
        return [
            pooling.attend(stream, keep_mask)
            for pooling, stream in zip(self.stream_poolings, self.split_streams(features))
        ]

    def call(self, inputs, training=None):
        features, keep_mask = self._unpack(inputs)
        streams = self.split_streams(features)
        pooled = [pooling(stream, keep_mask, training=training) for pooling, stream in zip(self.stream_poolings, streams)]
        video_feature = tf.concat(pooled, axis=-1)  # g_final of Eq. 5
        return self.classifier_head(self.dropout(video_feature, training=training))

    def video_class_scores(self, features, keep_mask=None):
        """Video-level class probabilities, softmax of the logits (Eq. 5), with dropout off."""
        return tf.nn.softmax(self({"features": features, "mask": keep_mask}, training=False), axis=-1)

    # --- Class-specific Score Computing ------------------------------------------------------
    def module_class_kernels(self):
        """The `z_m^j` of Eq. 7: one `[M, D_s, C]` tensor per stream."""
        return csc.module_class_kernels(self.classifier_head.kernel, self.stream_dims, self.num_modules)

    def csc_terms_per_stream(self, features, keep_mask=None, class_indices=None):
        """Pre-ReLU CSC terms of Eq. 7 for each stream, a list of `[B, Q, K]` tensors.

        Args:
            features: `[B, K, D]` segment features.
            keep_mask: `[B, K]` or `[B, Q, K]` float keep-mask, or None.
            class_indices: `[B, Q]` classes to score, or None for all classes.
        """
        kernels = self.module_class_kernels()
        terms = []
        for pooling, stream, kernel in zip(self.stream_poolings, self.split_streams(features), kernels):
            attended = pooling.attend(stream, keep_mask)
            projections = csc.segment_class_projections(stream, kernel, class_indices)
            terms.append(csc.csc_terms(attended.attention, attended.scale, projections))
        return terms

    def make_segment_scorer(
        self,
        features,
        class_indices=None,
        method: str = "csc",
        stream_weights: Sequence[float] | None = None,
    ) -> Callable[[tf.Tensor], tf.Tensor]:
        """Returns `score(keep_mask) -> [B, Q, K]` segment scores for fixed features and classes.

        The mask-independent products `h_k . z_m^j` are computed once here, so that each
        winners-out step only recomputes the attention over the remaining segments.

        Args:
            features: `[B, K, D]` segment features.
            class_indices: `[B, Q]` int classes, or None for all C classes.
            method: `"csc"` (Eqs. 8-10) or `"attention"` (the class-agnostic baseline).
            stream_weights: per-stream fusion weights of Eq. 10, e.g. `(1.0, gamma)` for RGB and
                flow; None weighs every stream 1 (the paper's gamma=10 comes from the config).

        Returns:
            A callable taking a `[B, K]` or `[B, Q, K]` keep-mask.
        """
        if method not in SCORE_METHODS:
            raise ValueError(f"method must be one of {SCORE_METHODS}, got {method!r}")
        stream_weights = csc.stream_weight_values(stream_weights, len(self.stream_dims))
        streams = self.split_streams(features)
        # The attention logits do not depend on the mask either: hoisting them saves one
        # [K, D] x [D, M] product per stream at every winners-out step.
        logits = [
            pooling.attention_logits(stream) if isinstance(pooling, ShiftedGroupAttention) else None
            for pooling, stream in zip(self.stream_poolings, streams)
        ]
        projections = None
        if method == "csc":
            projections = [
                csc.segment_class_projections(stream, kernel, class_indices)
                for stream, kernel in zip(streams, self.module_class_kernels())
            ]

        def score(keep_mask):
            per_stream = []
            for i, (pooling, stream) in enumerate(zip(self.stream_poolings, streams)):
                if logits[i] is None:
                    attended = pooling.attend(stream, keep_mask)
                else:
                    attended = pooling.attend(stream, keep_mask, logits=logits[i])
                if method == "csc":
                    per_stream.append(csc.class_specific_scores(attended.attention, attended.scale, projections[i]))
                else:
                    per_stream.append(csc.attention_segment_scores(attended.attention))
            return csc.fuse_stream_scores(per_stream, stream_weights)

        return score

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "num_segments": self.num_segments,
                "stream_dims": list(self.stream_dims),
                "num_modules": self.num_modules,
                "dropout_rate": self.dropout_rate,
                "pooling": self.pooling,
                "use_shifting_bias": self.use_shifting_bias,
                "orthogonality_weight": self.orthogonality_weight,
            }
        )
        return config

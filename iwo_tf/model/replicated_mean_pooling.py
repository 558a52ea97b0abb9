"""The CAM baseline's pooling: mean over kept segments, replicated M times (Table V)."""
from __future__ import annotations

import keras
import tensorflow as tf

from iwo_tf.model.shifted_group_attention import AttentionTerms, _as_variant_mask, check_segment_inputs


def replicated_mean_pooling_terms(features, variant_mask, num_modules):
    """Mean pooling over kept segments written as uniform attention, so CSC reduces to CAM.

    With `a_{m,k} = 1/K'` on the K' kept segments and scale 1, the CSC terms of Eq. 7 become
    `h_k . sum_m z_m^j / K'`: the class activation map of Zhou et al. (CVPR 2016) over segments,
    scaled so that its sum over segments is still the class logit minus the FC bias.

    Args:
        features: `[B, K, D]` segment features.
        variant_mask: `[B, Q, K]` float keep-mask.
        num_modules: M, the number of replicas of the pooled feature (as in the paper's Table V).

    Returns:
        `AttentionTerms` with attention `[B, Q, M, K]`, scale `[B, Q, M]` (ones) and outputs
        `[B, Q, M, D]`.
    """
    kept = tf.cast(variant_mask > 0, features.dtype)
    uniform = tf.math.divide_no_nan(kept, tf.reduce_sum(kept, axis=-1, keepdims=True))
    attention = tf.repeat(uniform[:, :, None, :], num_modules, axis=2)
    outputs = tf.einsum("bqmk,bkd->bqmd", attention, features)
    scale = tf.ones(tf.shape(outputs)[:-1], dtype=features.dtype)
    return AttentionTerms(attention=attention, scale=scale, module_outputs=outputs)


@keras.saving.register_keras_serializable(package="iwo_tf")
class ReplicatedMeanPooling(keras.layers.Layer):
    """Mean pooling of the kept segments, replicated M times: the paper's CAM baseline (Table V).

    A drop-in replacement for `ShiftedGroupAttention` with no attention parameters, so the same
    classifier, CSC code and winners-out loop run the CAM variant.

    Args:
        num_modules: M, how many times the pooled feature is replicated.
        num_segments: K, the number of segments.
        **kwargs: standard Keras layer arguments.

    Reference:
        Zeng et al., IEEE TIP 2019, Sec. VI-C.1; Zhou et al., "Learning Deep Features for
        Discriminative Localization", CVPR 2016.
    """

    def __init__(self, num_modules=18, num_segments=400, **kwargs):
        super().__init__(**kwargs)
        self.num_modules = num_modules
        self.num_segments = num_segments

    def build(self, input_shape):
        self.feature_dim = int(input_shape[-1])

    def attend(self, features, keep_mask=None):
        """Same contract as `ShiftedGroupAttention.attend`."""
        features = tf.convert_to_tensor(features, dtype=self.compute_dtype)
        check_segment_inputs(features, keep_mask, self.num_segments, self.feature_dim, self.name)
        variant_mask, _ = _as_variant_mask(features, keep_mask)
        features = tf.where(tf.reduce_any(variant_mask > 0, axis=1)[..., None], features, 0.0)
        return replicated_mean_pooling_terms(features, variant_mask, self.num_modules)

    def call(self, features, keep_mask=None, training=None):
        outputs = self.attend(features, keep_mask).module_outputs[:, 0]
        return tf.reshape(outputs, [-1, self.num_modules * self.feature_dim])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_modules * input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"num_modules": self.num_modules, "num_segments": self.num_segments})
        return config

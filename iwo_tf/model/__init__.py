"""The IWO network: group attention (Eqs. 2-5), classifier (Fig. 5), loss (Eq. 6), CSC (Eqs. 7-10)."""
from iwo_tf.model.csc import (
    attention_segment_scores,
    class_specific_scores,
    csc_terms,
    fuse_stream_scores,
    module_class_kernels,
    segment_class_projections,
)
from iwo_tf.model.iwo_classifier import IWOClassifier
from iwo_tf.model.losses import NormalizedLabelCrossEntropy, normalized_label_cross_entropy
from iwo_tf.model.replicated_mean_pooling import ReplicatedMeanPooling
from iwo_tf.model.shifted_group_attention import (
    AttentionTerms,
    ShiftedGroupAttention,
    attention_orthogonality_penalty,
    group_attention_logits,
    masked_segment_softmax,
    shifted_module_outputs,
)

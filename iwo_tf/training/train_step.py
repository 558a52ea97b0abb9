"""One synchronous SGD step of the IWO classifier under a tf.distribute strategy (Eq. 5 + Eq. 6)."""
from __future__ import annotations

import tensorflow as tf

from iwo_tf.model import normalized_label_cross_entropy
from iwo_tf.training.evaluation_runs import masked_top1_accuracy


def make_train_step(model, optimizer, strategy: tf.distribute.Strategy, global_batch: int):
    """A compiled step: takes the next batch of a distributed iterator, applies one update.

    The loss is the mean over the GLOBAL batch (`tf.nn.compute_average_loss`), so one step is the same
    SGD step whatever the number of replicas; the orthogonality term is split over the replicas.

    Args:
        model: the `IWOClassifier`.
        optimizer: its optimizer.
        strategy: the run's strategy.
        global_batch: videos per step over all replicas.

    Returns:
        `step(iterator) -> (cross_entropy, orthogonality, correct)`, each summed over replicas
        (`correct`: videos whose top-1 class is one of their labels).
    """

    def replica_step(batch):
        with tf.GradientTape() as tape:
            logits = model({"features": batch["features"], "mask": batch["mask"]}, training=True)
            per_video = normalized_label_cross_entropy(batch["labels"], logits)
            cross_entropy = tf.nn.compute_average_loss(per_video, global_batch_size=global_batch)
            regulariser = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
            regulariser = regulariser / strategy.num_replicas_in_sync
            loss = cross_entropy + regulariser
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return cross_entropy, regulariser, masked_top1_accuracy(batch["labels"], logits)

    def step(iterator):
        cross_entropy, regulariser, correct = strategy.run(replica_step, args=(next(iterator),))
        reduce = lambda x: strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None)  # noqa: E731
        return reduce(cross_entropy), reduce(regulariser), reduce(correct)

    return tf.function(step)

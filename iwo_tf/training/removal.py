"""The winners-out removal pass of Algorithm 1 (lines 3-10) over every training video."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from iwo_tf.training.strategy import broadcast_from_chief, num_workers, task_description
from iwo_tf.winners_out import remove_winners


class RemovalPass:
    """New keep-masks for the training videos: per video, the top-p segments of each own label removed.

    The scores are the CSC (or attention) scores of the model with its weights fixed, among the
    segments each video still keeps. Under a multi-worker strategy every worker computes the masks
    (deterministic ops, same weights, same records) and the chief's are used by everybody.

    Args:
        model: the `IWOClassifier`.
        num_classes: C.
        max_labels: the most labels any training video has (the labels scored per video).
        segments_per_step: p.
        score_method: `csc` or `attention`.
        stream_weights: Eq. 10 weights.
        strategy: the run's strategy (for the chief's broadcast).
    """

    def __init__(self, model, *, num_classes: int, max_labels: int, segments_per_step: int, score_method: str,
                 stream_weights, strategy: tf.distribute.Strategy):
        self.model = model
        self.num_labels = min(int(max_labels), int(num_classes))
        self.segments_per_step = int(segments_per_step)
        self.score_method = score_method
        self.stream_weights = stream_weights
        self.strategy = strategy
        self.batch_masks = tf.function(self._batch_masks, autograph=False)

    def _batch_masks(self, features, mask, labels):
        values, indices = tf.math.top_k(labels, k=self.num_labels)
        scorer = self.model.make_segment_scorer(
            features, indices, method=self.score_method, stream_weights=self.stream_weights,
        )
        return remove_winners(scorer, mask, values > 0, self.segments_per_step)

    def run(self, dataset, train_ids: Sequence[str]) -> Dict[str, np.ndarray]:
        """The new keep-masks of every training video.

        Args:
            dataset: batches of the training videos with their current masks (an evaluation dataset
                over the `train` subset with the run's `MaskTable`).
            train_ids: every training video (each must appear in `dataset`).

        Returns:
            video id -> bool `[K]` keep-mask; identical on every worker.
        """
        masks = {}
        for batch in dataset:
            new_mask = self.batch_masks(batch["features"], batch["mask"], batch["labels"]).numpy() > 0
            for video_id, row in zip(batch["video_id"].numpy(), new_mask):
                masks[video_id.decode()] = row
        missing = set(train_ids) - set(masks)
        if missing:
            raise RuntimeError(f"winners-out removal saw no features for {len(missing)} training videos, e.g. {sorted(missing)[:3]}")
        if num_workers(self.strategy) > 1:
            masks = self._chiefs_masks(masks, train_ids)
        return masks

    def _chiefs_masks(self, masks, train_ids):
        local = np.stack([masks[v] for v in train_ids]).astype(np.float32)
        chief = broadcast_from_chief(self.strategy, local).numpy()
        differing = int(np.sum(np.any(chief != local, axis=1)))
        if differing:
            logging.warning(
                "%s: winners-out masks of %d/%d training videos differ from the chief's (non-deterministic "
                "ops or different hardware); using the chief's", task_description(self.strategy), differing, len(local),
            )
        return {v: row > 0 for v, row in zip(train_ids, chief)}

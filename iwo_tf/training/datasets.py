"""The input pipelines of a run: the distributed training epoch and the evaluation passes."""
from __future__ import annotations

import tensorflow as tf

from iwo_tf.data.pipeline import make_dataset


def training_dataset(strategy: tf.distribute.Strategy, info, config, *, mask_table, global_batch: int, seed: int):
    """One epoch's distributed training input: every video's kept segments, shuffled by `seed`.

    Each worker reads every n-th training shard (`make_dataset` with the `input_context`) and
    repeats, so every worker runs exactly `training videos // global_batch` steps per epoch.

    Args:
        strategy: the run's strategy.
        info: the dataset's `DatasetInfo`.
        config: the experiment config.
        mask_table: the run's `MaskTable` (the winners-out keep-masks).
        global_batch: videos per step over all replicas.
        seed: the epoch's shuffle seed.
    """

    def dataset_fn(input_context):
        return make_dataset(
            info.files("train"),
            num_segments=config.data.num_segments,
            num_classes=info.num_classes,
            training=True,
            batch_size=input_context.get_per_replica_batch_size(global_batch),
            mask_table=mask_table,
            snippets_per_segment=config.data.snippets_per_segment,
            shuffle_buffer=config.data.shuffle_buffer,
            seed=seed,
            repeat=True,
            drop_remainder=True,
            input_context=input_context,
        )

    return strategy.distribute_datasets_from_function(dataset_fn)


def evaluation_dataset(info, config, subset: str, mask_table=None) -> tf.data.Dataset:
    """Every video of `subset` once, in order, at K segments (not distributed).

    Args:
        info: the dataset's `DatasetInfo`.
        config: the experiment config.
        subset: `train` or `test`.
        mask_table: optional `MaskTable` whose masks the batches carry (the removal pass).
    """
    return make_dataset(
        info.files(subset),
        num_segments=config.data.num_segments,
        num_classes=info.num_classes,
        training=False,
        batch_size=config.data.eval_batch_size,
        mask_table=mask_table,
    )

"""The input pipeline: parse records, resample each video to K segments, attach winners-out masks, batch.

Segments (docs/METHOD.md, "Segments"): a video of T snippets is split into K segments; segment k covers
snippets `[floor(k*T/K), floor((k+1)*T/K))`. At test time a segment is the mean over its interval; at
training time the mean of L snippets drawn uniformly at random (with replacement) inside it. When
T < K some intervals are empty and the segment is the single snippet `floor(k*T/K)` (repeated).
"""
from __future__ import annotations

import json
import os
import random
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from iwo_tf.data.dataset_format import DATASET_JSON
from iwo_tf.data.epoch_order import block_size, shuffled_records
from iwo_tf.data.record_index import record_offsets
from iwo_tf.data.schema import parse_video


def _segment_bounds(num_snippets, num_segments: int):
    """`[K]` int64 starts and (exclusive, never empty) ends of each segment's snippet interval."""
    k = tf.range(num_segments, dtype=tf.int64)
    starts = (k * num_snippets) // num_segments
    ends = ((k + 1) * num_snippets) // num_segments
    return starts, tf.maximum(ends, starts + 1)


def resample_to_segments(
    features,
    num_segments: int,
    *,
    training: bool,
    snippets_per_segment: int = 3,
    seed=None,
) -> tf.Tensor:
    """Resamples `[T, D]` snippet features to `[K, D]` segment features (pure TF, graph-safe).

    Args:
        features: `[T, D]` float features, T >= 1.
        num_segments: K.
        training: True draws `snippets_per_segment` random snippets per segment and averages them;
            False averages every snippet of the segment.
        snippets_per_segment: L, used when training.
        seed: when training, a shape-[2] integer seed for stateless sampling (same seed, same
            draw); None uses TensorFlow's global random generator.

    Returns:
        float32 `[K, D]`.

    Raises:
        tf.errors.InvalidArgumentError (when run): T == 0 or features not 2-D.
    """
    features = tf.convert_to_tensor(features, tf.float32)
    tf.debugging.assert_rank(features, 2, message="resample_to_segments: features must be [T, D]")
    num_snippets = tf.shape(features, out_type=tf.int64)[0]
    check = tf.debugging.assert_positive(
        num_snippets, message="resample_to_segments: the video has zero snippets (T=0); nothing to resample"
    )
    with tf.control_dependencies([check]):
        features = tf.identity(features)
    starts, ends = _segment_bounds(num_snippets, num_segments)
    if training:
        shape = [num_segments, snippets_per_segment]
        if seed is None:
            uniform = tf.random.uniform(shape, dtype=tf.float32)
        else:
            uniform = tf.random.stateless_uniform(shape, seed=tf.cast(seed, tf.int64), dtype=tf.float32)
        lengths = tf.cast(ends - starts, tf.float32)
        offsets = tf.cast(tf.floor(uniform * lengths[:, None]), tf.int64)
        # Float rounding can land exactly on the interval's length; keep the draw inside it.
        indices = starts[:, None] + tf.minimum(offsets, (ends - starts - 1)[:, None])
        # One SparseSegmentMean kernel gathers the K*L drawn rows and averages each segment's L of
        # them straight into the [K, D] output: no [K, L, D] intermediate and no L separate [K, D]
        # gathers, sum and division. It sums in draw order and scales by 1/L, so it equals
        # `add_n([gather(features, indices[:, l]) for l in range(L)]) * (1/L)` exactly (and the
        # same divided by L to within 1 ulp).
        segment_ids = tf.repeat(tf.range(num_segments, dtype=tf.int64), snippets_per_segment)
        segments = tf.sparse.segment_mean(features, tf.reshape(indices, [-1]), segment_ids)
        return tf.ensure_shape(segments, [num_segments, features.shape[1]])

    def mean_over_intervals():
        # T >= K: the intervals partition [0, T) and none is empty, so one pass of segment_mean does
        # it, in O(T*D) and without the precision loss of differencing cumulative sums.
        # Snippet i belongs to the largest k with floor(k*T/K) <= i, i.e. k = ((i+1)*K - 1) // T.
        i = tf.range(num_snippets, dtype=tf.int64)
        segment_ids = ((i + 1) * num_segments - 1) // num_snippets
        return tf.math.segment_mean(features, segment_ids)

    def single_snippets():
        return tf.gather(features, starts)

    segments = tf.cond(num_snippets >= num_segments, mean_over_intervals, single_snippets)
    return tf.ensure_shape(segments, [num_segments, features.shape[1]])


def _metadata_beside(files: Sequence[str]) -> Dict[str, Optional[dict]]:
    """The dataset.json beside each directory of `files` (None where there is none), read once."""
    metadata = {}
    for directory in sorted({os.path.dirname(os.path.abspath(f)) for f in files}):
        path = os.path.join(directory, DATASET_JSON)
        if os.path.isfile(path):
            with open(path) as f:
                metadata[directory] = json.load(f)
        else:
            metadata[directory] = None
    return metadata


def _feature_dim_of(metadata: Dict[str, Optional[dict]]) -> Optional[int]:
    """D from the dataset.json beside the shards, so batches get a static last dimension."""
    for block in metadata.values():
        if block is not None:
            return int(block["feature_dim"])
    return None


def _shard_table(files: Sequence[str], metadata: Dict[str, Optional[dict]]) -> Optional[List[dict]]:
    """Per file, its dataset.json entry (`records`, `bytes`, `offsets` or None), or None when a file
    has no dataset.json entry (then records are read sequentially)."""
    wanted = [os.path.abspath(f) for f in files]
    table = {}
    for directory in {os.path.dirname(f) for f in wanted}:
        block = metadata.get(directory)
        if block is None:
            return None
        for subset in block["subsets"].values():
            offsets = subset.get("record_offsets_per_file") or [None] * len(subset["files"])
            for name, count, size, listed in zip(subset["files"], subset["records_per_file"], subset["bytes_per_file"], offsets):
                table[os.path.join(directory, name)] = {"records": int(count), "bytes": int(size), "offsets": listed}
    if not all(f in table for f in wanted):
        return None
    return [table[f] for f in wanted]


def input_options() -> tf.data.Options:
    """The `tf.data.Options` of every input pipeline here: deterministic order, a private thread
    pool and no autotuning.

    Why no autotuning: on a 2-core machine tf.data's autotuner settled, in about half of the measured
    runs of THUMOS-sized pipelines (plain read-and-parse included), on a configuration that used one
    core and ran at half speed (about 135 instead of 200-270 videos/s).
    Without it each `AUTOTUNE` parallelism is the core count and every run used about 1.8 cores. The
    private pool, slightly larger than the core count, keeps the read and parse stages from starving
    each other.
    """
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    options.threading.private_threadpool_size = (os.cpu_count() or 1) + 2
    return options


def make_dataset(
    files: Sequence[str],
    *,
    num_segments: int,
    num_classes: int,
    training: bool,
    batch_size: int,
    mask_table=None,
    snippets_per_segment: int = 3,
    shuffle_buffer: int = 256,
    seed: Optional[int] = None,
    repeat: bool = False,
    drop_remainder: bool = False,
    input_context: Optional[tf.distribute.InputContext] = None,
    feature_dim: Optional[int] = None,
) -> tf.data.Dataset:
    """Batches of segment features, winners-out keep-masks and multi-hot labels.

    Shuffling (training only). When dataset.json describes every file (always, for a
    `DatasetInfo`'s files), records are read by byte offset in an order drawn afresh each epoch
    (`iwo_tf.data.epoch_order`): blocks of consecutive records (one record each when records are
    large) in uniformly random order, a few blocks read at a time. An epoch costs time linear in
    its records; nothing is read ahead of the order, so no memory is spent on a shuffle buffer of
    features. Epochs do not mix: with `repeat`, every video comes once per epoch. Otherwise (files
    without dataset.json) the files are shuffled and the resampled `[K, D]` elements go through a
    shuffle buffer of `shuffle_buffer` elements.

    Determinism: with a fixed `seed` the order and the random snippet draws are the same on every
    run (reads, parsing and shuffling are deterministic; each element's draw uses a stateless seed
    made of `seed` and the element's position in the stream). Without a seed, every run differs.

    Args:
        files: TFRecord shards (`DatasetInfo.files(subset)`).
        num_segments: K.
        num_classes: C, the width of the multi-hot labels.
        training: shuffle and draw random snippets per segment (else: file order, interval means).
        batch_size: videos per batch (per replica when used with `input_context`).
        mask_table: a `MaskTable`; None gives all-ones masks.
        snippets_per_segment: L.
        shuffle_buffer: 1 (or less) reads without shuffling records: the files, in a seeded random
            order, interleaved record by record. Otherwise, for files without dataset.json, the
            elements in the shuffle buffer (with dataset.json the epoch order is a full permutation
            of blocks and needs no buffer).
        seed: shuffling and sampling seed.
        repeat: repeat forever (training with a fixed number of steps per epoch); each pass is a
            fresh permutation (and, when the record counts are known, a fresh snippet draw).
        drop_remainder: drop the last, smaller batch.
        input_context: from `strategy.distribute_datasets_from_function`: this input pipeline reads
            every n-th file when there are at least as many files as pipelines, else every n-th
            record of all files (a pipeline never ends up with nothing to read).
        feature_dim: D, for a static shape; None reads it from the dataset.json beside the files.

    Returns:
        A dataset of dicts: `video_id` string [B], `features` float32 [B, K, D], `mask` float32 [B, K]
        (1 kept, 0 removed), `labels` float32 [B, C], `duration` float32 [B], `num_snippets` int64 [B],
        `snippet_stride_sec`, `snippet_offset_sec` float32 [B].
    """
    files = [os.fspath(f) for f in files]
    if not files:
        raise ValueError("make_dataset: no input files")
    # dataset.json gives D (when not given) and, for training, the record counts and offsets.
    metadata = _metadata_beside(files) if feature_dim is None or training else {}
    if feature_dim is None:
        feature_dim = _feature_dim_of(metadata)
    shard_records = None
    if input_context is not None and input_context.num_input_pipelines > 1:
        count, index = input_context.num_input_pipelines, input_context.input_pipeline_id
        if len(files) >= count:
            files = files[index::count]
        else:
            shard_records = (count, index)

    autotune = tf.data.AUTOTUNE
    # shuffle_buffer <= 1 asks for no shuffling: the files' records interleaved in (seeded) file order.
    table = _shard_table(files, metadata) if training and shuffle_buffer > 1 else None
    if table is not None:
        # Random access by byte offset, blocks reshuffled each epoch: see iwo_tf.data.epoch_order.
        offsets = [record_offsets(f, t["records"], t["offsets"]) for f, t in zip(files, table)]
        records = shuffled_records(
            files, [t["records"] for t in table], offsets, [block_size(t["records"], t["bytes"]) for t in table],
            seed=random.SystemRandom().randrange(2**62) if seed is None else int(seed),  # no seed: a new order every run
            repeat=repeat, shard=shard_records,
        )
    else:
        file_dataset = tf.data.Dataset.from_tensor_slices(files)
        # Pipelines that split records must see the files in the same order: without a shared seed, none.
        if training and len(files) > 1 and not (shard_records is not None and seed is None):
            file_dataset = file_dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        records = file_dataset.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(len(files), 4),
            block_length=1,
            num_parallel_calls=autotune,
            deterministic=True,
        )
        if shard_records is not None:
            records = records.shard(*shard_records)

    base_seed = tf.constant(0 if seed is None else int(seed), tf.int64)

    def to_example(position, serialized):
        video = parse_video(serialized, feature_dim=feature_dim)
        element_seed = tf.stack([base_seed, position]) if seed is not None else None
        segments = resample_to_segments(
            video["features"], num_segments, training=training, snippets_per_segment=snippets_per_segment, seed=element_seed
        )
        labels = video["labels"]
        in_range = tf.debugging.assert_less(
            labels, tf.constant(num_classes, tf.int64), message=f"record: a label index is not below num_classes={num_classes}"
        )
        with tf.control_dependencies([in_range]):
            multi_hot = tf.minimum(tf.reduce_sum(tf.one_hot(labels, num_classes, dtype=tf.float32), axis=0), 1.0)
        if mask_table is None:
            mask = tf.ones([num_segments], tf.float32)
        else:
            mask = mask_table.lookup(video["video_id"])
        return {
            "video_id": video["video_id"],
            "features": segments,
            "mask": mask,
            "labels": multi_hot,
            "duration": video["duration"],
            "num_snippets": video["num_snippets"],
            "snippet_stride_sec": video["snippet_stride_sec"],
            "snippet_offset_sec": video["snippet_offset_sec"],
        }

    dataset = records.enumerate().map(to_example, num_parallel_calls=autotune, deterministic=True)
    if training and table is None:
        # Record counts unknown: shuffle the resampled [K, D] elements (smaller than raw videos).
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat and table is None:
        # After the element shuffle, so that each pass is a permutation of this pipeline's videos
        # and passes never mix. The offset-read stream above repeats by itself, and then nothing
        # sits between the map and the batch: tf.data fuses them and each video's [K, D] segments
        # are written straight into the batch.
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(autotune)
    options = input_options()
    # Sharding is done above, explicitly; auto-sharding on top would shard twice.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)

"""The input pipeline: parse records, resample each video to K segments, attach winners-out masks, batch.

Segments (METHOD.md, "Segments"): a video of T snippets is split into K segments; segment k covers
snippets `[floor(k*T/K), floor((k+1)*T/K))`. At test time a segment is the mean over its interval; at
training time the mean of L snippets drawn uniformly at random (with replacement) inside it. When
T < K some intervals are empty and the segment is the single snippet `floor(k*T/K)` (repeated).
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from iwo_tf.data.dataset_writer import DATASET_JSON
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


def _records_per_file(files: Sequence[str], metadata: Dict[str, Optional[dict]]) -> Optional[List[int]]:
    """Records in each of `files` according to the dataset.json beside them, or None when unknown."""
    wanted = [os.path.abspath(f) for f in files]
    counts = {}
    for directory in {os.path.dirname(f) for f in wanted}:
        block = metadata[directory]
        if block is None:
            return None
        for subset in block["subsets"].values():
            for name, count in zip(subset["files"], subset["records_per_file"]):
                counts[os.path.join(directory, name)] = int(count)
    if not all(f in counts for f in wanted):
        return None
    return [counts[f] for f in wanted]


def _read_record(path, index):
    """Record `index` (0-based) of the TFRecord file `path`, a scalar string; CRC-checked like a
    sequential read. Unbuffered: the record headers before it are read and their payloads seeked
    over (a 256 KiB read buffer would read that much of every skipped payload), and the record
    itself is read straight into its string. A missing record fails with InvalidArgumentError."""
    return tf.data.TFRecordDataset(path, buffer_size=0).skip(index).take(1).get_single_element()


def input_options() -> tf.data.Options:
    """The `tf.data.Options` of every input pipeline here: deterministic order, a private thread
    pool and no autotuning.

    Why no autotuning: on a 2-core machine tf.data's autotuner settled, in about half of the runs of
    `benchmarks/data_pipeline.py` and in every variant (read-and-parse alone included), on a
    configuration that used one core and ran at half speed (about 135 instead of 200-270 videos/s).
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

    Shuffling (training only): the file order, then the records. When dataset.json gives the
    record count of every file (always, for a `DatasetInfo`'s files), what is shuffled is the
    (file, record number) index of each record, each epoch anew, with a buffer of
    `min(shuffle_buffer, videos)` indices; each record is then read by its index. Nothing is
    read, parsed or resampled ahead of the shuffle, so no work is spent on elements a short-lived
    iterator (one epoch, as the trainer makes them) never returns, and the buffer holds integers,
    not features. Epochs do not mix: with `repeat`, every video comes once per epoch. Otherwise
    (record counts unknown) the resampled `[K, D]` elements are shuffled, with a buffer of
    `shuffle_buffer` elements.

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
        shuffle_buffer: records in the shuffle buffer (training only).
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
    # dataset.json gives D (when not given) and, for training, the record counts the index shuffle needs.
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
    counts = _records_per_file(files, metadata) if training else None
    if counts is not None:
        # Shuffle record indices, not records: see the docstring. The indices come in the order a
        # sequential interleaved read would give the records (files shuffled, then round-robin).
        file_paths = tf.constant(files)
        file_counts = tf.constant(counts, tf.int64)
        file_ids = tf.data.Dataset.range(len(files))
        if len(files) > 1:
            file_ids = file_ids.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        index = file_ids.interleave(
            lambda file_id: tf.data.Dataset.range(file_counts[file_id]).map(lambda record: (file_id, record)),
            cycle_length=min(len(files), 4),
            block_length=1,
        )
        if shard_records is not None:
            index = index.shard(*shard_records)
        buffer = max(1, min(shuffle_buffer, sum(counts)))
        index = index.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            index = index.repeat()
        records = index.map(
            lambda file_id, record: _read_record(file_paths[file_id], record), num_parallel_calls=autotune, deterministic=True
        )
    else:
        file_dataset = tf.data.Dataset.from_tensor_slices(files)
        if training and len(files) > 1:
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
    if training and counts is None:
        # Record counts unknown: shuffle the resampled [K, D] elements (smaller than raw videos).
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat and counts is None:
        # After the element shuffle: each pass is a permutation of this pipeline's videos, so the
        # first `records // batch` batches hold every video at most once (repeating before the
        # shuffle let the buffer mix passes: some videos twice, others not at all, within one
        # epoch). With record counts the index stream above is already repeated after its shuffle,
        # and nothing may sit between the map and the batch: tf.data then fuses them and each
        # video's [K, D] segments are written straight into the batch (no copy).
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(autotune)
    options = input_options()
    # Sharding is done above, explicitly; auto-sharding on top would shard twice.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)

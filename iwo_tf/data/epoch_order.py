"""The records of a training epoch, in a fresh random order each epoch, read by byte offset.

Design (chosen by measurement, `benchmarks/data_pipeline.py`): every record's byte offset is known
(`iwo_tf.data.record_index`), so an epoch never reads past a record it does not want, and its cost
is linear in the records it reads. Starting a read at an offset costs a fixed amount (a reader is set
up), which for small records would be several times the cost of the record itself; so records are
read in *blocks* of up to `B` consecutive records of one shard, with `B` chosen so a block holds about
`BLOCK_BYTES` (large records: `B = 1`, every record is placed independently).

Each epoch e, with the stateless seed `(seed, e)`:
1. every shard is cut into blocks at a random phase (so which neighbours share a block changes from
   epoch to epoch);
2. the blocks of all shards are put in a uniformly random order;
3. `cycle` blocks are read at a time, one record from each in turn.

So every record comes exactly once per epoch, epochs never mix, and the order depends only on the
seed. With `B = 1` the order is a uniform random permutation of all records.

Input pipelines (`InputContext`) that split the records of too few files take every n-th block of a
fixed (phase-0) cut, so they read disjoint records whatever their seeds.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from iwo_tf.data.record_index import records_from

BLOCK_BYTES = 1 << 20
MAX_BLOCK_RECORDS = 32
MAX_CYCLE = 16


def block_size(num_records: int, num_bytes: int) -> int:
    """Records per block for a shard of `num_records` records and `num_bytes` bytes (1..MAX_BLOCK_RECORDS)."""
    if num_records <= 0:
        return 1
    mean = max(1.0, num_bytes / num_records)
    return int(max(1, min(MAX_BLOCK_RECORDS, BLOCK_BYTES // mean)))


def _block_table(counts: Sequence[int], sizes: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Static `(file of each candidate block, its index k within the file)`; k = 0 is the partial
    block before the phase, so a file of n records has `n // B + 2` candidates."""
    files, ks = [], []
    for f, (n, b) in enumerate(zip(counts, sizes)):
        candidates = n // b + 2 if n else 0
        files.append(np.full(candidates, f, np.int64))
        ks.append(np.arange(candidates, dtype=np.int64))
    return np.concatenate(files), np.concatenate(ks)


def _cap_for_shards(block_sizes: Sequence[int], counts: Sequence[int], shard: Optional[Tuple[int, int]]) -> list:
    sizes = [int(b) for b in block_sizes]
    if shard is not None:
        # Every pipeline needs at least one block: smaller blocks when there are few records.
        most = max(1, sum(counts) // (2 * shard[0]))
        sizes = [min(b, most) for b in sizes]
    return sizes


def block_schedule(counts: Sequence[int], block_sizes: Sequence[int], seed: int, epoch, *, shard: Optional[Tuple[int, int]] = None):
    """The blocks epoch `epoch` reads, in reading order: `(file index, first record, record count)`
    int64 tensors (graph-safe; `epoch` may be a tensor).

    Args:
        counts: records per shard.
        block_sizes: records per block, per shard.
        seed: the order's seed.
        epoch: the epoch number.
        shard: `(num_pipelines, pipeline_id)`: only this pipeline's blocks of a fixed cut.
    """
    sizes = _cap_for_shards(block_sizes, counts, shard)
    block_file, block_k = _block_table(counts, sizes)
    file_counts = tf.constant(np.asarray(counts, np.int64))
    file_blocks = tf.constant(np.asarray(sizes, np.int64))
    block_file_t, block_k_t = tf.constant(block_file), tf.constant(block_k)
    epoch_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    b = tf.gather(file_blocks, block_file_t)
    if shard is None:
        # A phase in [0, min(B, n)): every value gives a different cut of the file.
        choices = tf.maximum(tf.minimum(file_blocks, file_counts), 1)
        uniform = tf.random.stateless_uniform([len(counts)], seed=epoch_seed, dtype=tf.float32)
        phase = tf.minimum(tf.cast(tf.floor(uniform * tf.cast(choices, tf.float32)), tf.int64), choices - 1)
    else:
        phase = tf.zeros([len(counts)], tf.int64)
    raw_start = tf.gather(phase, block_file_t) - b + block_k_t * b
    start = tf.maximum(raw_start, 0)
    end = tf.minimum(raw_start + b, tf.gather(file_counts, block_file_t))
    keep = end > start
    if shard is not None:
        position = tf.cumsum(tf.cast(keep, tf.int64), exclusive=True)
        keep = tf.logical_and(keep, position % shard[0] == shard[1])
    file_id = tf.boolean_mask(block_file_t, keep)
    start, count = tf.boolean_mask(start, keep), tf.boolean_mask(end - start, keep)
    order = tf.random.experimental.stateless_shuffle(tf.range(tf.size(file_id, out_type=tf.int64)), seed=epoch_seed + 1)
    return tf.gather(file_id, order), tf.gather(start, order), tf.gather(count, order)


def shuffled_records(
    files: Sequence[str],
    counts: Sequence[int],
    offsets: Sequence[Sequence[int]],
    block_sizes: Sequence[int],
    *,
    seed: int,
    repeat: bool,
    shard: Optional[Tuple[int, int]] = None,
) -> tf.data.Dataset:
    """Serialized records of `files`, every record once per epoch, blocks reshuffled each epoch.

    Args:
        files: the shards.
        counts: records per shard.
        offsets: per shard, the byte offset of each record.
        block_sizes: per shard, records per block (`block_size`).
        seed: the order's seed (the same seed gives the same order).
        repeat: epochs forever (each with its own order); else one epoch.
        shard: `(num_pipelines, pipeline_id)`: read only this pipeline's blocks (a fixed cut).
    """
    sizes = _cap_for_shards(block_sizes, counts, shard)
    file_paths = tf.constant(list(files))
    flat_offsets = tf.constant(np.concatenate([np.asarray(o, np.int64) for o in offsets] + [np.zeros(0, np.int64)]))
    file_bases = tf.constant(np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))
    num_candidates = sum(n // b + 2 for n, b in zip(counts, sizes) if n)
    cycle = int(min(MAX_CYCLE, max(os.cpu_count() or 1, max(sizes)), max(1, num_candidates)))
    parallel = int(min(cycle, os.cpu_count() or 1))

    def epoch_records(epoch):
        file_id, start, count = block_schedule(counts, sizes, seed, epoch, shard=shard)
        offset = tf.gather(flat_offsets, tf.gather(file_bases, file_id) + start)
        blocks = tf.data.Dataset.from_tensor_slices((tf.gather(file_paths, file_id), offset, count))
        return blocks.interleave(records_from, cycle_length=cycle, block_length=1, num_parallel_calls=parallel, deterministic=True)

    epochs = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
    return epochs.flat_map(epoch_records)

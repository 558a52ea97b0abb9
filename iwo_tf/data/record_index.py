"""Byte offsets of the records in a TFRecord shard, and a dataset that reads a run of records from one.

A TFRecord file is a sequence of records, each `length` (8 bytes, little-endian) + masked CRC of the
length (4) + payload (`length` bytes) + masked CRC of the payload (4): record i starts at byte
`sum(16 + length_j for j < i)`. The converter (`DatasetWriter`) records these offsets in dataset.json
(`record_offsets_per_file`). A local shard is also scanned (the 8-byte length of each record read,
its payload skipped: milliseconds per thousand records, once per process), which both checks the
listed offsets and serves datasets written before offsets were listed.

`records_from(path, offset, count)` reads `count` records starting at byte `offset` with TensorFlow's
own TFRecord reader (`TFRecordDatasetV2`'s `byte_offsets`), so every record is CRC-checked exactly as
in a sequential read; an offset that is not a record boundary fails with DataLossError.
"""
from __future__ import annotations

import os
import struct
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from iwo_tf.errors import UserInputError
from iwo_tf.io import is_url

RECORD_OVERHEAD_BYTES = 16  # 8 length + 4 length CRC + 4 payload CRC
_READ_BUFFER_BYTES = 256 * 1024
_scanned: Dict[Tuple[str, int, int], List[int]] = {}


def scan_record_offsets(path: str) -> List[int]:
    """The byte offset of every record in the TFRecord file `path`, read from the record headers.

    Raises:
        UserInputError: the file ends inside a record (truncated).
    """
    offsets = []
    if is_url(path):
        f = tf.io.gfile.GFile(path, "rb")
        size = f.size()
        read_at = lambda position: (f.seek(position), f.read(8))[1]  # noqa: E731
        close = f.close
    else:
        fd = os.open(path, os.O_RDONLY)
        size = os.fstat(fd).st_size
        read_at = lambda position: os.pread(fd, 8, position)  # noqa: E731
        close = lambda: os.close(fd)  # noqa: E731
    try:
        position = 0
        while position < size:
            header = read_at(position)
            if len(header) < 8:
                raise UserInputError(f"{path}: truncated inside the header of record {len(offsets)} (byte {position})")
            (length,) = struct.unpack("<Q", header)
            end = position + RECORD_OVERHEAD_BYTES + length
            if end > size:
                raise UserInputError(f"{path}: record {len(offsets)} at byte {position} claims {length} bytes, past the end of the file")
            offsets.append(position)
            position = end
    finally:
        close()
    return offsets


def _cached_scan(path: str) -> List[int]:
    if is_url(path):
        key = (path, -1, -1)
    else:
        stat = os.stat(path)
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _scanned:
        _scanned[key] = scan_record_offsets(path)
    return _scanned[key]


def check_offsets(path: str, offsets: Sequence[int], expected_records: int, size: int) -> List[int]:
    """`offsets` as ints when they can be the record starts of a file of `size` bytes holding
    `expected_records` records: first 0, strictly increasing by at least 16 bytes, inside the file.

    Raises:
        UserInputError: they cannot (naming the file and the first bad record).
    """
    offsets = [int(o) for o in offsets]
    if len(offsets) != expected_records:
        raise UserInputError(f"{path}: {len(offsets)} records found, dataset.json says {expected_records}")
    previous = None
    for i, offset in enumerate(offsets):
        if (i == 0 and offset != 0) or (previous is not None and offset < previous + RECORD_OVERHEAD_BYTES) or offset + RECORD_OVERHEAD_BYTES > size:
            raise UserInputError(f"{path}: record {i} cannot start at byte {offset} (dataset.json edited or the shard replaced)")
        previous = offset
    return offsets


def record_offsets(path: str, expected_records: int, listed: Optional[Sequence[int]] = None) -> List[int]:
    """Record offsets of one shard.

    A local shard is scanned (once per process and file version: milliseconds per thousand records)
    and must agree with `listed`, the offsets dataset.json gives, when there are any. For a URL
    (`gs://...`, where a scan means one request per record) the listed offsets are used after a
    plausibility check; one that is not a record boundary fails the read with DataLossError.

    Args:
        path: the shard.
        expected_records: the record count dataset.json gives for it.
        listed: the offsets dataset.json gives for it, if any.

    Raises:
        UserInputError: the offsets do not fit the file, the count, or the scan.
    """
    if is_url(path) and listed is not None:
        return check_offsets(path, listed, expected_records, tf.io.gfile.GFile(path, "rb").size())
    scanned = check_offsets(path, _cached_scan(path), expected_records, os.path.getsize(path) if not is_url(path) else tf.io.gfile.GFile(path, "rb").size())
    if listed is not None and [int(o) for o in listed] != scanned:
        first = next((i for i, (a, b) in enumerate(zip(listed, scanned)) if int(a) != b), min(len(listed), len(scanned)))
        raise UserInputError(f"{path}: dataset.json lists record {first} at a byte offset where the shard has no record start "
                             "(dataset.json edited or the shard replaced)")
    return scanned


def records_from(path, offset, count) -> tf.data.Dataset:
    """The `count` records of TFRecord file `path` that start at byte `offset`.

    Build it inside a dataset function (`flat_map`, `interleave`): TensorFlow 2.21 cannot serialize a
    `TFRecordDatasetV2` graph (it drops `byte_offsets`), which iterating a top-level dataset in eager
    mode does, so `list(records_from(...))` fails with InternalError while
    `Dataset.from_tensors(offset).flat_map(lambda o: records_from(path, o, n))` works.

    Args:
        path: scalar string, the file.
        offset: int64 scalar, the first record's byte offset (a record boundary).
        count: int64 scalar, how many records to read.
    """
    variant = tf.raw_ops.TFRecordDatasetV2(
        filenames=tf.reshape(tf.convert_to_tensor(path, tf.string), [1]),
        compression_type="",
        buffer_size=tf.constant(_READ_BUFFER_BYTES, tf.int64),
        byte_offsets=tf.reshape(tf.cast(offset, tf.int64), [1]),
    )
    return tf.data.experimental.from_variant(variant, tf.TensorSpec([], tf.string)).take(tf.cast(count, tf.int64))

"""Input pipeline cost per record against the records per shard, with a sequential pass as yardstick.

    python benchmarks/data_pipeline.py [--sizes=1000,4000,8000,16000] [--repeats=3] [--output=benchmarks/results/data_pipeline.json]

For each size n it writes a one-shard dataset of n small records (T=64 snippets, D=64: the disk is
spared, the per-record overheads show) and times, in the same process and alternating, after one
warm-up pass each (page cache, tracing):

* `epoch`: one training epoch as the trainer reads it: `make_dataset(training=True)` (records in a
  fresh random order, read by byte offset in blocks, parse, resample to K segments with random
  snippet draws, batch);
* `sequential`: the yardstick, one pass over the same file in file order:
  `make_dataset(training=False)` (sequential TFRecord read, the same parse, interval-mean resample
  and batch).

It prints and saves microseconds per record of each and their ratio. Targets (issue 13): the epoch
cost flat in n, and at 8,000 records within 3x the sequential pass. Every pipeline runs with the
project's `input_options()` (no autotuning, a private thread pool).
"""
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from iwo_tf.data import epoch_order  # noqa: E402
from iwo_tf.data.dataset_info import load_dataset_info  # noqa: E402
from iwo_tf.data.dataset_writer import DatasetWriter  # noqa: E402
from iwo_tf.data.pipeline import make_dataset  # noqa: E402
from iwo_tf.data.schema import VideoRecord  # noqa: E402
from iwo_tf.io import write_json_atomic  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["1000", "4000", "8000", "16000"], "Records per shard to measure.")
flags.DEFINE_integer("snippets", 64, "T of every record.")
flags.DEFINE_integer("feature_dim", 64, "D of every record.")
flags.DEFINE_integer("num_segments", 64, "K.")
flags.DEFINE_integer("batch_size", 16, "Videos per batch.")
flags.DEFINE_integer("repeats", 3, "Timed runs of each variant per size (median reported).")
flags.DEFINE_integer("max_block_records", epoch_order.MAX_BLOCK_RECORDS,
                     "Largest block of consecutive records read from one offset (1 = every record read by its own offset).")
flags.DEFINE_string("data_dir", None, "Keep the generated datasets here (default: a temporary folder).")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "data_pipeline.json"),
                    "Where to save the figures (JSON).")

TARGET_RATIO_AT_8000 = 3.0


def write_shard(path, count, snippets, feature_dim):
    """A one-shard dataset of `count` records, unless it is already there."""
    if os.path.isdir(path):
        return load_dataset_info(path)
    rng = np.random.default_rng(count)
    with DatasetWriter(path, ["a", "b"], [feature_dim], {"train": 1}) as writer:
        for i in range(count):
            features = rng.normal(size=(snippets, feature_dim)).astype(np.float32)
            writer.add(VideoRecord(f"video_{i:06d}", "train", [i % 2], snippets * 0.5, 0.5, features))
    return load_dataset_info(path)


def microseconds_per_record(dataset):
    start = time.perf_counter()
    records = 0
    for batch in dataset:
        records += int(batch["video_id"].shape[0])
    return (time.perf_counter() - start) / records * 1e6, records


def main(argv):
    del argv
    epoch_order.MAX_BLOCK_RECORDS = FLAGS.max_block_records
    root = FLAGS.data_dir or tempfile.mkdtemp(prefix="iwo-data-bench-")
    rows = []
    for size in [int(s) for s in FLAGS.sizes]:
        info = write_shard(os.path.join(root, f"records_{size}"), size, FLAGS.snippets, FLAGS.feature_dim)
        files = info.files("train")

        def variant(training, seed=[0]):  # noqa: B006 - a new seed (a new order) per epoch, as the trainer does
            seed[0] += 1
            return make_dataset(files, num_segments=FLAGS.num_segments, num_classes=info.num_classes, training=training,
                                batch_size=FLAGS.batch_size, seed=seed[0])

        timings = {"epoch": [], "sequential": []}
        for repeat in range(FLAGS.repeats + 1):  # round 0 warms the page cache and the tracing
            for name, training in (("epoch", True), ("sequential", False)):
                cost, records = microseconds_per_record(variant(training))
                assert records == size, (name, records, size)
                if repeat:
                    timings[name].append(cost)
        epoch, sequential = statistics.median(timings["epoch"]), statistics.median(timings["sequential"])
        rows.append({"records_per_shard": size, "epoch_us_per_record": epoch, "sequential_us_per_record": sequential,
                     "ratio": epoch / sequential, "runs": timings})
        print(f"{size:6d} records/shard: epoch {epoch:7.1f} us/record, sequential {sequential:7.1f} us/record, ratio {epoch / sequential:4.2f}",
              flush=True)
    at_8000 = [r["ratio"] for r in rows if r["records_per_shard"] == 8000]
    result = {
        "rows": rows,
        "target": f"ratio at 8000 records <= {TARGET_RATIO_AT_8000}, epoch cost flat in the records per shard",
        "ratio_at_8000": at_8000[0] if at_8000 else None,
        "max_block_records": FLAGS.max_block_records,
        "record": {"snippets": FLAGS.snippets, "feature_dim": FLAGS.feature_dim, "num_segments": FLAGS.num_segments,
                   "batch_size": FLAGS.batch_size},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "tensorflow": tf.__version__},
        "command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
    }
    write_json_atomic(FLAGS.output, result)
    if at_8000:
        verdict = "met" if at_8000[0] <= TARGET_RATIO_AT_8000 else "NOT met"
        print(f"ratio at 8000 records: {at_8000[0]:.2f} (target <= {TARGET_RATIO_AT_8000}: {verdict})")
    print(f"-> {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)

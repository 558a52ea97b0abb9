"""Training throughput (videos/s) of one worker versus two local workers on the same synthetic data.

    python benchmarks/multi_worker_throughput.py [--epochs=3] [--batch_size=16] \
        [--output=benchmarks/results/multi_worker_throughput.json]

Generates the default synthetic dataset (configs/synthetic.py settings: K=200, M=8, two 64-d
streams, 300 training videos) with 4 shards, then, for each setting, launches the worker processes
(this script with --worker) and times `--epochs` training epochs of the library's WinnersOutTrainer
after one warm-up epoch (tracing, first reads):

* `1 worker`: MultiWorkerMirroredStrategy with a one-worker TF_CONFIG (same code path, no peer);
* `2 workers`: two MultiWorkerMirroredStrategy processes on 127.0.0.1, the same GLOBAL batch
  (each worker computes half of it and they all-reduce the gradients every step).

Videos/s = epochs * steps_per_epoch * global batch / the chief's wall time for those epochs.
Process start-up, dataset generation and evaluation are not timed.
"""
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from absl import app, flags  # noqa: E402

from iwo_tf.io import write_json_atomic  # noqa: E402
from iwo_tf.training.local_cluster import free_local_ports, local_tf_config  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_bool("worker", False, "Internal: run as one worker process.")
flags.DEFINE_string("data_dir", None, "Synthetic dataset (generated here when absent).")
flags.DEFINE_string("workdir", None, "Internal: the worker's workdir.")
flags.DEFINE_string("result", None, "Internal: where the worker writes its timing.")
flags.DEFINE_integer("epochs", 3, "Timed epochs per setting (after one warm-up).")
flags.DEFINE_integer("batch_size", 16, "GLOBAL batch size (configs/synthetic.py: 16).")
flags.DEFINE_integer("timeout", 900, "Seconds per setting before giving up.")
flags.DEFINE_string("output", os.path.join(REPO, "benchmarks", "results", "multi_worker_throughput.json"),
                    "Where to write the figures (JSON).")


def worker_main(args) -> None:
    from iwo_tf.training.strategy import make_strategy

    strategy = make_strategy("multi_worker")
    import tensorflow as tf

    from configs import synthetic
    from iwo_tf.training.trainer import WinnersOutTrainer

    config = synthetic.get_config()
    config.data_dir = args.data_dir
    config.data.batch_size = args.batch_size
    config.strategy = "multi_worker"
    tf.config.experimental.enable_op_determinism()
    trainer = WinnersOutTrainer(config, args.workdir, strategy, verbose=False)
    trainer.train_epoch(0, 0)  # warm-up: tracing, first reads
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        trainer.train_epoch(0, epoch)
    seconds = time.perf_counter() - start
    if trainer.chief:
        videos = args.epochs * trainer.steps_per_epoch * trainer.global_batch
        with open(args.result, "w") as f:
            json.dump({"seconds": seconds, "videos": videos, "steps_per_epoch": trainer.steps_per_epoch,
                       "global_batch": trainer.global_batch, "replicas": strategy.num_replicas_in_sync}, f)


def run_setting(num_workers, args, tmp) -> dict:
    ports = free_local_ports(num_workers)
    result = os.path.join(tmp, f"result_{num_workers}.json")
    procs = []
    try:
        for index in range(num_workers):
            command = [sys.executable, os.path.abspath(__file__), "--worker", f"--data_dir={args.data_dir}",
                       f"--workdir={os.path.join(tmp, f'workdir_{num_workers}')}", f"--result={result}",
                       f"--epochs={args.epochs}", f"--batch_size={args.batch_size}"]
            procs.append(subprocess.Popen(command, env=dict(os.environ, TF_CONFIG=local_tf_config(ports, index)),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        for proc in procs:
            _, err = proc.communicate(timeout=args.timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{err[-3000:]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    with open(result) as f:
        measured = json.load(f)
    measured["videos_per_s"] = measured["videos"] / measured["seconds"]
    measured["workers"] = num_workers
    return measured


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    args = FLAGS
    if args.worker:
        worker_main(args)
        return

    from iwo_tf.data.dataset_info import dataset_problem
    from iwo_tf.data.synthetic import SyntheticSpec, generate_synthetic_dataset

    with tempfile.TemporaryDirectory(prefix="iwo-mw-bench-") as tmp:
        if args.data_dir is None:
            args.data_dir = os.path.join(tmp, "synthetic")
        if dataset_problem(args.data_dir) is not None:
            generate_synthetic_dataset(args.data_dir, seed=0, spec=SyntheticSpec(shards_per_subset=4))
        settings = [run_setting(n, args, tmp) for n in (1, 2)]
    one, two = settings
    document = {
        "benchmark": "multi_worker_throughput",
        "command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": settings,
        "speedup_2_vs_1": two["videos_per_s"] / one["videos_per_s"],
    }
    for s in settings:
        print(f"{s['workers']} worker(s): {s['videos_per_s']:.1f} videos/s "
              f"({s['videos']} videos in {s['seconds']:.1f} s, global batch {s['global_batch']}, {s['replicas']} replicas)")
    print(f"2 workers vs 1: x{document['speedup_2_vs_1']:.2f}")
    write_json_atomic(args.output, document)
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    app.run(main)

"""Winners-out training under tf.distribute: two local workers (MultiWorkerMirroredStrategy over
127.0.0.1), MirroredStrategy over two logical CPUs, a dead worker, and resuming after it.

Every TensorFlow process is a subprocess (tests/training/distributed_driver.py or train.py), so no
strategy or device configuration leaks into pytest; each runs under a timeout and is killed in a
`finally`.

Why the numbers can be compared with the single-process run: the comparison runs use no dropout, no
shuffle buffer (`shuffle_buffer=1`) and K=128 segments for videos of at most 120 snippets (every
segment is then one snippet, so the random snippet draw has a single outcome). A global batch of 8 is
then the same 8 videos whether one process reads both shards interleaved or each of two workers reads
one shard (4 + 4), and every video's features are the same. What remains different is only the
float32 summation order (losses over 4 videos then across replicas instead of over 8; the gradient
all-reduce of two partial sums). That is about 1 ulp per step (measured: 1.2e-7 on losses near 1.4,
9e-8 on weights after 16 SGD steps); the tolerances below (1e-5) leave 100x margin and are still
100x smaller than the effect of a wrong aggregation (e.g. gradients summed instead of averaged over
replicas changes the weights by ~lr * gradient ~ 1e-3 after one step). Across workers everything is
exact: the all-reduced gradients, hence weights, and the broadcast masks are bit-identical.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from iwo_tf.data.synthetic import SyntheticSpec, generate_synthetic_dataset
from iwo_tf.training.local_cluster import free_local_ports, local_tf_config
from tests.training.conftest import REPO, subprocess_env

pytestmark = pytest.mark.slow  # every test here runs training processes

DRIVER = REPO / "tests" / "training" / "distributed_driver.py"

SPEC = SyntheticSpec(
    num_classes=4, stream_dims=(16, 16), num_train=32, num_test=8, min_snippets=40, max_snippets=120,
    shards_per_subset=2,
)
# Comparison settings (see the module docstring): K >= T, no dropout, no shuffle buffer.
OVERRIDES = {
    "data.num_segments": 128,
    "data.batch_size": 8,  # GLOBAL: 8 per step in one process, 4 + 4 on two workers
    "data.eval_batch_size": 8,
    "data.shuffle_buffer": 1,
    "model.num_modules": 4,
    "model.dropout_rate": 0.0,
    "winners_out.train_steps": 2,
    "winners_out.epochs_per_step": 2,
    "winners_out.segments_per_step": 8,
    "testing.num_steps": 2,
    "testing.segments_per_step": 8,
    "testing.compare_single_step": False,
    "testing.evaluate_every_wo_step": True,  # the chief evaluates while the other worker waits
    "testing.tiou_thresholds": [0.3, 0.5],
    "summaries.num_curve_videos": 0,
    "summaries.histogram_every_epochs": 0,
}
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5
RUN_TIMEOUT = 150  # seconds for one process (about 10-20 s here)


class Processes:
    """Started subprocesses, their logs in files (no pipe can fill up); all killed on exit."""

    def __init__(self, log_dir):
        self.log_dir = pathlib.Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs = []

    def start(self, name, command, **env):
        out = open(self.log_dir / f"{name}.out", "w")
        err = open(self.log_dir / f"{name}.err", "w")
        full_env = subprocess_env(**env)
        proc = subprocess.Popen(command, cwd=str(REPO), env=full_env, stdout=out, stderr=err,
                                start_new_session=True)
        proc.name, proc.files = name, (out, err)
        self.procs.append(proc)
        return proc

    def log(self, proc, stream="err", tail=3000):
        return (self.log_dir / f"{proc.name}.{stream}").read_text()[-tail:]

    def wait(self, proc, timeout):
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            pytest.fail(f"{proc.name} did not finish within {timeout} s:\n{self.log(proc)}")

    def kill_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the process and its children
                proc.wait(timeout=30)
            for f in proc.files:
                f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill_all()


def driver_command(strategy, data_dir, workdir, out, **extra):
    command = [sys.executable, str(DRIVER), f"--strategy={strategy}", f"--data_dir={data_dir}",
               f"--workdir={workdir}", f"--out={out}", f"--overrides={json.dumps(OVERRIDES)}"]
    return command + [f"--{k}={v}" for k, v in extra.items()]


def run_single(processes, name, strategy, data_dir, tmp, **extra):
    out = tmp / f"{name}.npz"
    proc = processes.start(name, driver_command(strategy, data_dir, tmp / name, out, **extra))
    assert processes.wait(proc, RUN_TIMEOUT) == 0, processes.log(proc)
    return dict(np.load(out))


def weights(state):
    return [state[f"weight_{i}"] for i in range(sum(k.startswith("weight_") for k in state))]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return generate_synthetic_dataset(str(tmp_path_factory.mktemp("distributed") / "synthetic"), seed=0, spec=SPEC)


@pytest.fixture(scope="module")
def single_process(data_dir, tmp_path_factory):
    """The reference: default strategy, one process, one replica."""
    tmp = tmp_path_factory.mktemp("single")
    with Processes(tmp / "logs") as processes:
        return run_single(processes, "default", "default", data_dir, tmp)


@pytest.fixture(scope="module")
def two_workers(data_dir, tmp_path_factory):
    """Two MultiWorkerMirroredStrategy workers on 127.0.0.1; worker 1 is told a workdir of its own
    that must stay unwritten (it writes to scratch space, removed at the end)."""
    tmp = tmp_path_factory.mktemp("two_workers")
    ports = free_local_ports(2)
    with Processes(tmp / "logs") as processes:
        procs = [
            processes.start(
                f"worker{i}", driver_command("multi_worker", data_dir, tmp / f"workdir{i}", tmp / f"worker{i}.npz"),
                TF_CONFIG=local_tf_config(ports, i), TMPDIR=str(tmp),
            )
            for i in range(2)
        ]
        for proc in procs:
            assert processes.wait(proc, RUN_TIMEOUT) == 0, processes.log(proc)
    states = [dict(np.load(tmp / f"worker{i}.npz")) for i in range(2)]
    return tmp, states


def test_training_shards_cover_every_video_once_per_epoch(data_dir):
    """The trainer's input (make_dataset with an InputContext per worker, global batch 8 split 4 + 4,
    steps_per_epoch = 32 // 8): one epoch reads each training video exactly once across workers."""
    import tensorflow as tf

    from iwo_tf.data.dataset_info import load_dataset_info
    from iwo_tf.data.pipeline import make_dataset

    info = load_dataset_info(data_dir)
    global_batch, steps = 8, SPEC.num_train // 8
    seen = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker, num_replicas_in_sync=2)
        dataset = make_dataset(
            info.files("train"), num_segments=16, num_classes=info.num_classes, training=True,
            batch_size=context.get_per_replica_batch_size(global_batch), seed=7, repeat=True,
            drop_remainder=True, input_context=context,
        )
        for batch in dataset.take(steps):
            seen.extend(v.decode() for v in batch["video_id"].numpy())
    with open(info.ground_truth_path) as f:
        train_ids = {v for v, item in json.load(f)["database"].items() if item["subset"] == "train"}
    assert len(seen) == len(set(seen)) == SPEC.num_train
    assert set(seen) == train_ids


def test_two_workers_train_identically_and_match_one_process(two_workers, single_process):
    tmp, (chief, other) = two_workers
    assert bool(chief["is_chief"]) and not bool(other["is_chief"])
    assert int(chief["num_replicas"]) == int(other["num_replicas"]) == 2
    # Same model on both workers, bit for bit; same per-step (all-reduced) losses.
    for a, b in zip(weights(chief), weights(other)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(chief["losses"], other["losses"])
    # Same masks on both workers after the winners-out step, and something was removed.
    assert chief["masks"].shape == other["masks"].shape == (1, SPEC.num_train, 128)
    np.testing.assert_array_equal(chief["masks"], other["masks"])
    assert 0 < (chief["masks"] == 0).sum() < chief["masks"].size
    # Same training as one process with the same global batch (tolerance: module docstring).
    steps = OVERRIDES["winners_out.train_steps"] * OVERRIDES["winners_out.epochs_per_step"] * (SPEC.num_train // 8)
    assert chief["losses"].shape == single_process["losses"].shape == (steps, 3)
    np.testing.assert_allclose(chief["losses"], single_process["losses"], rtol=LOSS_RTOL)
    for a, b in zip(weights(chief), weights(single_process)):
        np.testing.assert_allclose(a, b, rtol=0, atol=WEIGHT_ATOL)
    np.testing.assert_array_equal(chief["masks"], single_process["masks"])


def test_only_the_chief_writes_its_workdir(two_workers):
    tmp, (chief, other) = two_workers
    workdir = tmp / "workdir0"
    for name in ("run_config.json", "results.json", "model.keras", "masks/step_000.json", "masks/step_001.json",
                 "checkpoints/checkpoint", "metrics", "detections", "tensorboard"):
        assert (workdir / name).exists(), name
    assert str(chief["trainer_workdir"]) == str(workdir)
    # The other worker never touched the workdir it was given; its scratch space is gone.
    assert not (tmp / "workdir1").exists()
    scratch = pathlib.Path(str(other["trainer_workdir"]))
    assert scratch.parent == tmp and scratch.name.startswith("iwo-worker-1-")
    assert not scratch.exists()


def test_mirrored_over_two_logical_cpus_matches_default(data_dir, single_process, tmp_path):
    with Processes(tmp_path / "logs") as processes:
        mirrored = run_single(processes, "mirrored", "mirrored", data_dir, tmp_path, logical_cpus=2)
    assert int(mirrored["num_replicas"]) == 2
    np.testing.assert_allclose(mirrored["losses"], single_process["losses"], rtol=LOSS_RTOL)
    for a, b in zip(weights(mirrored), weights(single_process)):
        np.testing.assert_allclose(a, b, rtol=0, atol=WEIGHT_ATOL)
    np.testing.assert_array_equal(mirrored["masks"], single_process["masks"])


def train_py_command(data_dir, workdir, epochs):
    flags = {**OVERRIDES, "winners_out.epochs_per_step": epochs, "testing.tiou_thresholds": "(0.3,0.5,)"}
    return [sys.executable, str(REPO / "train.py"), "--dataset=synthetic", f"--data_dir={data_dir}",
            f"--workdir={workdir}", "--strategy=multi_worker", "--config.export.enabled=False",
            *(f"--config.{k}={v}" for k, v in flags.items())]


def test_dead_worker_stops_the_job_and_a_restart_resumes(data_dir, tmp_path):
    """train.py on two workers: kill -9 worker 1 after the first winners-out step; worker 0 must exit
    (not hang) with the message; restarting both resumes from the checkpoint and finishes."""
    workdir = tmp_path / "workdir"  # shared by both workers, as on a shared filesystem
    command = train_py_command(data_dir, workdir, epochs=8)
    with Processes(tmp_path / "logs") as processes:
        ports = free_local_ports(2)
        first = [processes.start(f"first{i}", command, TF_CONFIG=local_tf_config(ports, i), TMPDIR=str(tmp_path))
                 for i in range(2)]
        deadline = time.time() + RUN_TIMEOUT
        while not (workdir / "masks" / "step_001.json").exists():
            assert time.time() < deadline, processes.log(first[0])
            assert first[0].poll() is None and first[1].poll() is None, processes.log(first[0]) + processes.log(first[1])
            time.sleep(0.2)
        os.killpg(first[1].pid, signal.SIGKILL)
        started = time.time()
        code = processes.wait(first[0], 90)
        stopped_after = time.time() - started
        stderr = processes.log(first[0], tail=20000)
        assert code != 0
        assert "multi-worker training stopped on worker:0: a worker died" in stderr, stderr[-3000:]
        assert "Restart ALL workers" in stderr
        assert not (workdir / "results.json").exists()
        print(f"worker 0 stopped {stopped_after:.1f} s after worker 1 was killed")

        ports = free_local_ports(2)
        second = [processes.start(f"second{i}", command, TF_CONFIG=local_tf_config(ports, i), TMPDIR=str(tmp_path))
                  for i in range(2)]
        for proc in second:
            assert processes.wait(proc, RUN_TIMEOUT) == 0, processes.log(proc)
        stdout = processes.log(second[0], "out", tail=100000)
        assert "Resumed from" in stdout and "winners-out step 2" in stdout, stdout[-2000:]
        assert "WO step 2/2, epoch" in stdout  # piped: one plain line per epoch
        assert "WO step 1/2, epoch" not in stdout  # step 1 is not trained again
        assert (workdir / "results.json").exists()

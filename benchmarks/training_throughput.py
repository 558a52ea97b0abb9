"""Training-side throughput at THUMOS size: the training step, the removal pass, test-split localization.

    python benchmarks/training_throughput.py [--num_videos=200] [--repeats=3] \
        [--output=benchmarks/results/training_throughput.json]

Writes (once, in a child process, so that generation does not count in this process's memory) a
synthetic dataset of THUMOS shape: two 1024-d streams (D=2048), C=20 classes, `--num_videos` training
and as many test videos of `--min_snippets..--max_snippets` snippets; then builds the library's
`WinnersOutTrainer` with configs/thumos14.py (K=400, M=18, global batch 32) and times, after one
warm-up pass of each (tracing, page cache), alternating `--repeats` runs of:

* `pipeline`: the training input alone (one epoch of batches, no model): the yardstick the step
  cannot beat. Its per-epoch setup (building the epoch's input, first batch) is timed apart: a run
  builds it for the next epoch in the background while the current one trains
  (`iwo_tf.training.epoch_inputs`), so "is training input-bound" compares the streaming rate after
  the setup with the training epoch's rate (`pipeline_over_training_steps`);
* `train_epoch`: `WinnersOutTrainer.train_epoch` as the run calls it, over consecutive epochs of one
  winners-out step (each step's three floats read back to Python, a host synchronisation per step);
* `train_epoch_foreground`: the same with each epoch's input built when the epoch starts (no
  background thread: what multi-worker runs do, and what every run did before);
* `train_epoch_device_sums`: the same steps with the three values summed on the device and read once
  per epoch: the difference to `train_epoch` is the share per-step synchronisation costs;
* `removal`: the winners-out removal pass over every training video (`RemovalPass`);
* `localization`: winners-out testing (10 steps, Algorithm 2) over the test split (`SplitLocalizer`,
  the incremental path the export serves);
* `localization_reference`: the same with the reference `iwo_tf.winners_out.localize` (the yardstick).

Reports videos/s (medians), the host-sync share, and peak RSS (ru_maxrss) before and after the
training epochs. JSON to `--output`, a bar chart beside it (.png).
"""
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

_NUM_VIDEOS = flags.DEFINE_integer("num_videos", 200, "Training videos (and as many test videos).")
_MIN_SNIPPETS = flags.DEFINE_integer("min_snippets", 50, "Shortest video, in snippets.")
_MAX_SNIPPETS = flags.DEFINE_integer("max_snippets", 200, "Longest video, in snippets.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs of each variant (alternating); medians reported.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Where the synthetic dataset is (written when missing). Default: a temp dir.")
_OUTPUT = flags.DEFINE_string("output", "benchmarks/results/training_throughput.json", "The JSON results (and .png chart).")
_GENERATE_ONLY = flags.DEFINE_bool("generate_only", False, "Only write the dataset (the child process).")


def _spec():
    from iwo_tf.data.synthetic import SyntheticSpec

    return SyntheticSpec(num_classes=20, stream_dims=(1024, 1024), num_train=_NUM_VIDEOS.value, num_test=_NUM_VIDEOS.value,
                         min_snippets=_MIN_SNIPPETS.value, max_snippets=_MAX_SNIPPETS.value, shards_per_subset=4)


def _ensure_dataset(data_dir):
    if os.path.exists(os.path.join(data_dir, "dataset.json")):
        return
    command = [sys.executable, os.path.abspath(__file__), "--generate_only", f"--data_dir={data_dir}",
               f"--num_videos={_NUM_VIDEOS.value}", f"--min_snippets={_MIN_SNIPPETS.value}",
               f"--max_snippets={_MAX_SNIPPETS.value}"]
    subprocess.run(command, check=True)


def _rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _variants(trainer):
    import tensorflow as tf

    from iwo_tf.training.epoch_inputs import EpochInputs, epoch_seed

    steps, batch = trainer.steps_per_epoch, trainer.global_batch
    counter = iter(range(10**9))

    setup_seconds = []

    def pipeline():
        start = time.perf_counter()
        iterator = iter(trainer.dataset_for_epoch(next(counter)))
        tf.nest.map_structure(lambda x: x, next(iterator))
        setup_seconds.append(time.perf_counter() - start)  # building the epoch's input + its first batch
        for _ in range(steps - 1):
            tf.nest.map_structure(lambda x: x, next(iterator))

    # The two training variants take turns over consecutive epochs of one winners-out step, as a run
    # trains them: each starts from the input the previous one prepared and prepares the next. The
    # wait at the end keeps a background build that outlasts the steps inside the epoch timed.
    epochs = iter(range(10**9))

    def train_epoch():
        trainer.train_epoch(0, next(epochs))
        trainer.epoch_inputs.wait()

    foreground = EpochInputs(trainer.dataset_for_epoch, background=False)
    foreground_epochs = iter(range(10**9))

    def train_epoch_foreground():  # its own epochs (of step 2), so the other two keep their sequence
        background, trainer.epoch_inputs = trainer.epoch_inputs, foreground
        try:
            trainer.train_epoch(1, next(foreground_epochs))
        finally:
            trainer.epoch_inputs = background

    def train_epoch_device_sums():
        epoch = next(epochs)
        iterator = trainer.epoch_inputs.iterator(epoch_seed(trainer.config, 0, epoch))
        trainer.epoch_inputs.prepare(epoch_seed(trainer.config, 0, epoch + 1))
        totals = [tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)]
        for _ in range(steps):
            totals = [t + x for t, x in zip(totals, trainer.train_step(iterator))]
        [float(t) for t in totals]
        trainer.epoch_inputs.wait()

    def removal():
        trainer.remove_winners()

    test = trainer.eval_dataset("test")

    def localization():
        trainer.localizer.results(test, int(trainer.config.testing.num_steps), trainer.class_names)

    from iwo_tf.training.evaluation_runs import SplitLocalizer
    from iwo_tf.winners_out import localize

    own = trainer.localizer
    reference = SplitLocalizer(trainer.model, top_q=own.top_q, segments_per_step=own.segments_per_step,
                               score_method=own.score_method, stream_weights=own.stream_weights, localize_function=localize)

    def localization_reference():
        reference.results(test, int(trainer.config.testing.num_steps), trainer.class_names)

    videos = {"pipeline": steps * batch, "train_epoch": steps * batch, "train_epoch_foreground": steps * batch,
              "train_epoch_device_sums": steps * batch,
              "removal": len(trainer.train_ids), "localization": len(trainer.test_ids),
              "localization_reference": len(trainer.test_ids)}
    functions = {"pipeline": pipeline, "train_epoch": train_epoch, "train_epoch_foreground": train_epoch_foreground,
                 "train_epoch_device_sums": train_epoch_device_sums,
                 "removal": removal, "localization": localization, "localization_reference": localization_reference}
    return functions, videos, setup_seconds


def _chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["videos_per_second"])
    values = [results["videos_per_second"][n] for n in names]
    fig, ax = plt.subplots(figsize=(7, 3), dpi=90)
    ax.barh(names, values, color="tab:blue")
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.0f}", va="center", fontsize=8)
    ax.set_xlabel("videos/s (median)")
    ax.set_title(f"THUMOS-size training side, {results['cpu_count']} CPUs, "
                 f"host sync share {100 * results['host_sync_share']:.1f}%", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv):
    del argv
    data_dir = _DATA_DIR.value or os.path.join(tempfile.gettempdir(), f"iwo-train-bench-{_NUM_VIDEOS.value}")
    if _GENERATE_ONLY.value:
        from iwo_tf.data.synthetic import generate_synthetic_dataset

        generate_synthetic_dataset(data_dir, seed=0, spec=_spec())
        return
    _ensure_dataset(data_dir)
    import tensorflow as tf

    from configs import thumos14
    from iwo_tf.training.trainer import WinnersOutTrainer

    tf.config.experimental.enable_op_determinism()
    config = thumos14.get_config()
    config.data_dir = data_dir
    config.export.enabled = False
    config.summaries.num_curve_videos = 0
    workdir = tempfile.mkdtemp(prefix="iwo-train-bench-run-")
    rss_start = _rss_mib()
    trainer = WinnersOutTrainer(config, workdir, tf.distribute.get_strategy(), verbose=False)
    functions, videos, setup_seconds = _variants(trainer)
    for function in functions.values():  # warm-up: tracing, first reads
        function()
    rss_after_warmup, peak_after_warmup = _rss_mib(), _peak_rss_mib()
    seconds = {name: [] for name in functions}
    for _ in range(_REPEATS.value):
        for name, function in functions.items():
            seconds[name].append(_timed(function))
    trainer.run_dir.release()
    shutil.rmtree(workdir, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    setup = statistics.median(setup_seconds[1:])  # the timed epochs (the first was the warm-up)
    after_first = videos["pipeline"] - trainer.global_batch
    results = {
        "command": " ".join(sys.argv),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "shape": {"D": 2048, "streams": 2, "K": config.data.num_segments, "M": config.model.num_modules, "C": 20,
                  "train_videos": len(trainer.train_ids), "test_videos": len(trainer.test_ids),
                  "snippets": [_MIN_SNIPPETS.value, _MAX_SNIPPETS.value], "global_batch": trainer.global_batch,
                  "steps_per_epoch": trainer.steps_per_epoch, "testing_steps": int(config.testing.num_steps)},
        "seconds": seconds,
        "videos_per_second": {name: videos[name] / median[name] for name in functions},
        "host_sync_share": (median["train_epoch"] - median["train_epoch_device_sums"]) / median["train_epoch"],
        # Each epoch's input (new order, current keep-masks) is built before its first batch. The
        # pipeline variant pays that setup before streaming; a run builds the next epoch's input in
        # the background while the current epoch trains, so the training epoch does not:
        "pipeline_epoch_setup_seconds": setup,
        "pipeline_streaming_videos_per_second": after_first / (median["pipeline"] - setup),
        "training_steps_videos_per_second": videos["train_epoch"] / median["train_epoch"],
        "rss_mib": {"process_start": rss_start, "after_warmup": rss_after_warmup, "peak_after_warmup": peak_after_warmup,
                    "peak_after_timed_epochs": _peak_rss_mib(), "now": _rss_mib()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
    from iwo_tf.io import write_json_atomic

    write_json_atomic(_OUTPUT.value, results)
    _chart(results, os.path.splitext(_OUTPUT.value)[0] + ".png")
    results["pipeline_over_training_steps"] = (
        results["pipeline_streaming_videos_per_second"] / results["training_steps_videos_per_second"]
    )
    keys = ("shape", "videos_per_second", "host_sync_share", "pipeline_epoch_setup_seconds",
            "pipeline_streaming_videos_per_second", "training_steps_videos_per_second", "pipeline_over_training_steps", "rss_mib")
    print(json.dumps({k: results[k] for k in keys}, indent=1))
    print(f"wrote {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)

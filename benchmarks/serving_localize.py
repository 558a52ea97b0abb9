r"""Benchmark: winners-out localization from the exported SavedModel, loaded the TF Serving way.

THUMOS-sized setting (D = 2048 as two 1024-d streams, K = 400, M = 18, C = 20, q = 2, 10 steps,
p = 30, random weights, T = 400 snippets per video unless --num_snippets). In one process and the
same minute, interleaved round by round so that the ratios survive a noisy machine:

* `serving_default` (batches of serialized records, parse + resample + localize in-graph) through
  the TF1 Session loader TF Serving uses, at each --batch_sizes;
* `localize` (one video's raw features per request), latency;
* the yardstick: a plain batched graph written here, not from the project, that recomputes each
  step's attention-weighted sums in full (the mask-independent logits and class projections are
  hoisted, as any sane implementation does), fed the same videos already resampled;
* for the breakdown, on the same resampled videos: the library's `localize_incremental` (the
  computation inside the export, without parsing), and the export's record parsing and resampling
  alone (`parse_record_batch`), both on tensors made once;
* the Session's feed floor: the same records fed from Python to a trivial graph in a TF1 Session.
  It is part of every `serving_default` call here but not of TF Serving's (which converts the
  request's TensorProto in C++), so serving_default is also reported net of it.

Detections of the SavedModel are checked against the library's reference path
(`iwo_tf.winners_out.localize`) first. A child process then reports the peak RSS of one `localize`
request at --rss_snippets (default 100,000) snippets. Figures are printed and written to
`benchmarks/results/serving_localize.json`.

    python benchmarks/serving_localize.py [--batch_sizes=1,4,16,64] [--seconds=2] [--rounds=3]
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from iwo_tf.data.pipeline import resample_to_segments  # noqa: E402
from iwo_tf.model import IWOClassifier  # noqa: E402
from iwo_tf.serving import export_saved_model, serialize_features  # noqa: E402
from iwo_tf.serving.record_batch import parse_record_batch  # noqa: E402
from iwo_tf.winners_out import localize, localize_incremental  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("batch_sizes", ["1", "4", "16", "64"], "serving_default batch sizes to time.")
flags.DEFINE_float("seconds", 2.0, "Seconds per configuration and round.")
flags.DEFINE_integer("rounds", 3, "Interleaved rounds (SavedModel, yardstick) per batch size; medians reported.")
flags.DEFINE_integer("num_snippets", 400, "T per video (400 = 4.3 min of 16-frame snippets at 25 fps).")
flags.DEFINE_integer("check_videos", 8, "Videos whose served detections are checked against the library.")
flags.DEFINE_integer("rss_snippets", 100_000, "T of the peak-RSS request (0 skips it).")
flags.DEFINE_string("output", os.path.join(REPO, "benchmarks", "results", "serving_localize.json"), "Results JSON.")
flags.DEFINE_string("rss_child", None, "Internal: run the peak-RSS measurement on this SavedModel and exit.")

STREAM_DIMS = (1024, 1024)
K, M, C, STEPS, Q, P = 400, 18, 20, 10, 2, 30
STREAM_WEIGHTS = (1.0, 10.0)
STRIDE = 16.0 / 25.0
MATMUL_GFLOPS = 190.0  # dense fp32 matmul rate of the reference machine (see docs)


def count_flops(feature_dim, num_steps=STEPS, q=Q, p=P):
    """Multiply-adds x 2 per video, element-wise work ignored.

    `full_recompute`: logits once, `A H` for the video scores and for each (class, step), the class
    projections once, the FC layer. `incremental`: logits, `A H` and projections once; a step
    re-sums S (M K) and takes the Eq. 7 product (M K) per class and subtracts p segments (p M D).
    """
    logits = 2 * K * feature_dim * M
    attend = 2 * M * K * feature_dim
    projections = 2 * K * feature_dim * M * q
    fc = 2 * M * feature_dim * C
    per_step_incremental = q * (2 * p * M * feature_dim + 2 * 2 * M * K * len(STREAM_DIMS))
    return {
        "full_recompute": logits + attend * (1 + q * num_steps) + projections + fc,
        "incremental": logits + attend + projections + fc + num_steps * per_step_incremental,
    }


def make_model():
    tf.keras.utils.set_random_seed(0)
    model = IWOClassifier(num_classes=C, num_segments=K, stream_dims=STREAM_DIMS, num_modules=M)
    model.build()
    rng = np.random.default_rng(1)
    for variable in model.weights:  # non-degenerate: spread the position bias and the FC bias
        if "position_bias" in variable.path or variable.path.endswith("bias"):
            variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))
    return model


def yardstick_function(model):
    """A plain batched graph: Algorithm 2 recomputing each step's attention-weighted sums in full."""
    poolings = model.stream_poolings
    kernels = model.module_class_kernels()

    @tf.function(input_signature=[tf.TensorSpec([None, K, sum(STREAM_DIMS)], tf.float32)], autograph=False)
    def run(segments):
        streams = tf.split(segments, STREAM_DIMS, axis=-1)
        logits = [tf.einsum("bkd,dm->bmk", h, pool.kernel) + pool.position_bias for h, pool in zip(streams, poolings)]
        pooled = []
        for h, lg, pool in zip(streams, logits, poolings):
            a = tf.nn.softmax(lg, axis=-1)
            v = pool.alpha[:, None] * tf.einsum("bmk,bkd->bmd", a, h)
            v = v / (np.sqrt(M) * tf.norm(v, axis=-1, keepdims=True))
            pooled.append(tf.reshape(v, [-1, M * h.shape[-1]]))
        video_scores = tf.nn.softmax(model.classifier_head(tf.concat(pooled, -1)), -1)
        classes = tf.math.top_k(video_scores, Q).indices
        projections = [
            tf.einsum("bkd,mdbq->bqmk", h, tf.gather(z, classes, axis=2)) for h, z in zip(streams, kernels)
        ]
        batch = tf.shape(segments)[0]
        remaining = tf.ones([batch, Q, K], tf.bool)
        selected = tf.zeros([batch, Q, K], tf.float32)

        def body(step, remaining, selected):
            fused = 0.0
            for h, lg, pj, pool, w in zip(streams, logits, projections, poolings, STREAM_WEIGHTS):
                masked = tf.where(remaining[:, :, None, :], lg[:, None], -1e30)
                a = tf.nn.softmax(masked, -1) * tf.cast(remaining[:, :, None, :], tf.float32)
                v = pool.alpha[:, None] * tf.einsum("bqmk,bkd->bqmd", a, h)
                scale = pool.alpha / (np.sqrt(M) * tf.norm(v, axis=-1))
                fused += w * tf.nn.relu(tf.reduce_sum(a * scale[..., None] * pj, axis=2))
            ranked = tf.where(remaining, fused, -np.inf)
            top = tf.math.top_k(ranked, P).indices
            chosen = tf.reduce_max(tf.one_hot(top, K), axis=2) > 0
            selected = tf.where(chosen, fused, selected)
            return step + 1, tf.logical_and(remaining, tf.logical_not(chosen)), selected

        _, remaining, selected = tf.while_loop(lambda s, *_: s < STEPS, body, (0, remaining, selected))
        return classes, selected

    return run


def incremental_function(model):
    """The library's incremental localization on resampled segments (what the export runs after parsing)."""

    @tf.function(input_signature=[tf.TensorSpec([None, K, sum(STREAM_DIMS)], tf.float32)], autograph=False)
    def run(segments):
        batch = tf.shape(segments)[0]
        return localize_incremental(
            model, segments, num_snippets=tf.fill([batch], FLAGS.num_snippets),
            snippet_stride_sec=tf.fill([batch], STRIDE), snippet_offset_sec=tf.zeros([batch]),
            duration=tf.zeros([batch]), num_steps=STEPS, top_q=Q, segments_per_step=P,
            stream_weights=STREAM_WEIGHTS, check_finite=True,
        ).detections

    return run


def timed(function, seconds, min_calls=2):
    """Calls `function` for about `seconds`; returns seconds per call (at least `min_calls` calls)."""
    start, calls = time.perf_counter(), 0
    while calls < min_calls or time.perf_counter() - start < seconds:
        function()
        calls += 1
    return (time.perf_counter() - start) / calls


def session_runner(version_dir):
    """The SavedModel in a TF1 Session (the TF Serving loading path): `run(signature, **feeds)`."""
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)

    def run(name, **inputs):
        signature = meta.signature_def[name]
        feeds = {signature.inputs[k].name: v for k, v in inputs.items()}
        return session.run({k: v.name for k, v in signature.outputs.items()}, feeds)

    return run


def feed_floor_runner():
    """A TF1 Session running a trivial graph on the same `[B]` records: what feeding them from Python
    costs by itself (TF Serving converts the request's TensorProto in C++ instead)."""
    graph = tf.Graph()
    with graph.as_default():
        examples = tf.compat.v1.placeholder(tf.string, [None])
        lengths = tf.strings.length(examples)
    session = tf.compat.v1.Session(graph=graph)
    return lambda records: session.run(lengths, {examples: records})


def _status_mb(field):
    """A `/proc/self/status` memory field (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_child(version_dir, num_snippets):
    """Peak RSS of one `localize` request at `num_snippets` snippets, in this (fresh) process."""
    run = session_runner(version_dir)
    run("localize", features=np.random.default_rng(0).standard_normal((K, sum(STREAM_DIMS)), dtype=np.float32))
    features = np.random.default_rng(1).standard_normal((num_snippets, sum(STREAM_DIMS)), dtype=np.float32)
    try:  # reset the high-water mark so VmHWM below is this request's peak
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    rss_before = _status_mb("VmRSS")
    start = time.perf_counter()
    out = run("localize", features=features)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "T": num_snippets, "input_mb": features.nbytes / 2**20, "rss_mb_before_request": rss_before,
        "peak_rss_mb": _status_mb("VmHWM"), "seconds": seconds, "num_valid": int(out["num_valid"]),
    }))


def check_against_library(model, run, videos):
    """Served detections vs the library's reference `localize`; returns the largest score difference."""
    records = [serialize_features(f"v{i}", x, snippet_stride_sec=STRIDE) for i, x in enumerate(videos)]
    served = run("serving_default", examples=np.asarray(records, dtype=object))
    segments = tf.stack([resample_to_segments(tf.constant(x), K, training=False) for x in videos])
    n = len(videos)
    reference = localize(
        model, segments, num_snippets=[len(x) for x in videos], snippet_stride_sec=[STRIDE] * n,
        snippet_offset_sec=[0.0] * n, duration=[x.shape[0] * STRIDE for x in videos], num_steps=STEPS, top_q=Q,
        segments_per_step=P, stream_weights=STREAM_WEIGHTS,
    ).detections
    worst = 0.0
    for row in range(n):
        count = int(reference.num_valid[row])
        if int(served["num_valid"][row]) != count or not np.array_equal(
            served["class_index"][row, :count], reference.class_index[row, :count]
        ):
            raise AssertionError(f"video {row}: the SavedModel's detections differ from the library's")
        for key in ("score", "start_sec", "end_sec"):
            diff = np.abs(served[key][row, :count] - getattr(reference, key)[row, :count].numpy())
            worst = max(worst, float(diff.max(initial=0.0)))
    if worst > 1e-4:
        raise AssertionError(f"scores/times differ from the library's by {worst}")
    return worst


def main(argv):
    del argv
    if FLAGS.rss_child:
        rss_child(FLAGS.rss_child, FLAGS.rss_snippets)
        return
    batch_sizes = [int(b) for b in FLAGS.batch_sizes]
    model = make_model()
    feature_dim = sum(STREAM_DIMS)
    rng = np.random.default_rng(0)
    count = max(max(batch_sizes), FLAGS.check_videos)
    videos = [rng.standard_normal((FLAGS.num_snippets, feature_dim), dtype=np.float32) for _ in range(count)]
    export_base = tempfile.mkdtemp(prefix="iwo-bench-")
    version_dir = export_saved_model(
        model, class_names=[f"class_{i}" for i in range(C)], export_base=export_base, model_name="iwo",
        num_steps=STEPS, top_q=Q, segments_per_step=P, stream_weights=STREAM_WEIGHTS, snippet_stride_sec=STRIDE,
    )
    run = session_runner(version_dir)
    max_diff = check_against_library(model, run, videos[: FLAGS.check_videos])

    records = np.asarray([serialize_features(f"v{i}", x, snippet_stride_sec=STRIDE) for i, x in enumerate(videos)], dtype=object)
    # The in-process functions get tensors made once, so they time computation, not conversion.
    segments = tf.stack([resample_to_segments(tf.constant(x), K, training=False) for x in videos])
    record_tensor = tf.constant(list(records))
    feed_floor = feed_floor_runner()
    yardstick = yardstick_function(model)
    incremental = incremental_function(model)
    parse = tf.function(lambda x: parse_record_batch(x, K, feature_dim).segments, autograph=False)
    throughput = {}
    for batch in batch_sizes:
        calls = {
            "serving_default": lambda: run("serving_default", examples=records[:batch]),
            "yardstick": lambda: yardstick(segments[:batch]),
            "incremental_on_segments": lambda: incremental(segments[:batch]),
            "parse_and_resample": lambda: parse(record_tensor[:batch]),
            "session_feed_floor": lambda: feed_floor(records[:batch]),
        }
        times = {name: [] for name in calls}
        for call in calls.values():
            call()
        for _ in range(FLAGS.rounds):
            for name, call in calls.items():
                times[name].append(timed(call, FLAGS.seconds))
        median = {name: statistics.median(values) for name, values in times.items()}
        throughput[batch] = {f"{name}_videos_per_s": batch / seconds for name, seconds in median.items()}
        throughput[batch]["ratio"] = median["yardstick"] / median["serving_default"]
        throughput[batch]["ratio_incremental_on_segments"] = median["yardstick"] / median["incremental_on_segments"]
        net = max(median["serving_default"] - median["session_feed_floor"], 1e-9)
        throughput[batch]["serving_default_net_of_feed_videos_per_s"] = batch / net
        throughput[batch]["ratio_net_of_feed"] = median["yardstick"] / net
        # The request runs its two parts one after the other: their times added bound it from above.
        series = median["incremental_on_segments"] + median["parse_and_resample"]
        throughput[batch]["parts_in_series_videos_per_s"] = batch / series
        print(
            f"batch {batch:3d}: serving_default {batch / median['serving_default']:7.1f} videos/s | yardstick (full "
            f"recompute) {batch / median['yardstick']:7.1f} | ratio {throughput[batch]['ratio']:.2f}x || breakdown: "
            f"incremental on segments {batch / median['incremental_on_segments']:7.1f} videos/s "
            f"({throughput[batch]['ratio_incremental_on_segments']:.2f}x the yardstick), parse+resample "
            f"{batch / median['parse_and_resample']:7.1f} videos/s; the Session's Python feed of the records alone "
            f"{1e3 * median['session_feed_floor']:.1f} ms, serving_default net of it {batch / net:7.1f} videos/s "
            f"({throughput[batch]['ratio_net_of_feed']:.2f}x); the two parts in series {batch / series:7.1f} videos/s",
            flush=True,
        )

    single = videos[0]
    run("localize", features=single)
    latencies = []
    for _ in range(FLAGS.rounds):
        start = time.perf_counter()
        calls = 0
        while calls < 5 or time.perf_counter() - start < FLAGS.seconds:
            t0 = time.perf_counter()
            run("localize", features=single)
            latencies.append(time.perf_counter() - t0)
            calls += 1
    yard_one = statistics.median(timed(lambda: yardstick(segments[:1]), FLAGS.seconds) for _ in range(FLAGS.rounds))
    latency_ms = 1e3 * statistics.median(latencies)
    print(f"localize, one video (T={FLAGS.num_snippets}): {latency_ms:.2f} ms median | yardstick batch 1: {1e3 * yard_one:.2f} ms", flush=True)

    rss = None
    if FLAGS.rss_snippets:
        child = subprocess.run(
            [sys.executable, os.path.abspath(__file__), f"--rss_child={version_dir}", f"--rss_snippets={FLAGS.rss_snippets}"],
            capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )
        if child.returncode != 0:
            raise RuntimeError(f"peak-RSS child failed: {child.stderr[-2000:]}")
        rss = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"peak RSS, one localize request at T={rss['T']}: {rss['peak_rss_mb']:.0f} MB "
            f"(RSS before the request {rss['rss_mb_before_request']:.0f} MB, of which the input array "
            f"{rss['input_mb']:.0f} MB; the request added {rss['peak_rss_mb'] - rss['rss_mb_before_request']:.0f} MB; "
            f"{rss['seconds']:.2f} s)",
            flush=True,
        )

    flops = count_flops(feature_dim)
    best = max(throughput, key=lambda b: throughput[b]["serving_default_videos_per_s"])
    per_video_ms = 1e3 / throughput[best]["serving_default_videos_per_s"]
    result = {
        "setting": {"D": feature_dim, "K": K, "M": M, "C": C, "num_steps": STEPS, "top_q": Q, "segments_per_step": P,
                    "T": FLAGS.num_snippets},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "tensorflow": tf.__version__,
                    "loadavg_1min": os.getloadavg()[0],
                    # glibc maps every allocation above 32 MB afresh (page faults on each request of
                    # batch >= 16 here); these settings change that, so they are part of the figures.
                    "allocator_env": {k: v for k, v in os.environ.items()
                                          if k.startswith(("MALLOC_", "TF_CPU_")) or k == "LD_PRELOAD"}},
        "throughput_by_batch": throughput,
        "localize_latency_ms_median": latency_ms,
        "yardstick_batch1_ms": 1e3 * yard_one,
        "max_abs_diff_vs_library": max_diff,
        "flops_per_video": flops,
        "floor_ms_per_video_at_190_gflops": {k: 1e3 * v / (MATMUL_GFLOPS * 1e9) for k, v in flops.items()},
        "achieved_gflops_best_batch": flops["incremental"] / (per_video_ms * 1e-3) / 1e9,
        "peak_rss": rss,
        "command": "python " + " ".join([os.path.relpath(__file__, REPO)] + sys.argv[1:]),
    }
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump(result, f, indent=2)
    print(
        f"max |diff| vs the library's reference localize: {max_diff:.1e}; FLOPs/video incremental "
        f"{flops['incremental'] / 1e6:.0f} M (full recompute {flops['full_recompute'] / 1e6:.0f} M); "
        f"best batch {best}: {result['achieved_gflops_best_batch']:.0f} GFLOP/s\nwrote {FLAGS.output}"
    )


if __name__ == "__main__":
    app.run(main)

r"""Benchmark: winners-out localization from the exported SavedModel vs. a plain eager Python loop.

THUMOS-sized setting (D = 2048 as two 1024-d streams, K = 400, M = 18, C = 20, 10 steps, q = 2,
p = 30, random weights). Three ways to localize the same videos, in one run:

* `saved_model`: the `localize` signature loaded through the TF1 Session loader, the path TF Serving
  takes (one video per request, raw features [T, D] in, detections out).
* `saved_model_batch`: `serving_default` on batches of serialized records.
* `eager_loop`: Algorithm 2 written the plain way, a Python loop per class and per step running the
  library's CSC (Eqs. 7-10) eagerly on the remaining segments; and the same loop with the
  library's hoisted segment scorer (`eager_loop_hoisted_scorer`), to separate graph execution
  from the hoisting.

Detections of the eager loop are checked against the SavedModel's, then latency, videos/s, their
ratio, and the arithmetic floor (FLOPs / the machine's matmul rate) are printed and written to
`benchmarks/results/serving_localize.json`.

    python benchmarks/serving_localize.py [--videos=20] [--eager_videos=4] [--num_snippets=400]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from iwo_tf.data.pipeline import resample_to_segments  # noqa: E402
from iwo_tf.model import IWOClassifier  # noqa: E402
from iwo_tf.serving import export_saved_model  # noqa: E402
from iwo_tf.serving import serialize_features  # noqa: E402
from iwo_tf.winners_out import select_top_p  # noqa: E402
from iwo_tf.winners_out.localize import flatten_detections  # noqa: E402
from iwo_tf.winners_out.proposals import (  # noqa: E402
    proposals_from_selection,
    proposals_to_seconds,
    segment_boundaries_sec,
)

STREAM_DIMS = (1024, 1024)
K, M, C, STEPS, Q, P = 400, 18, 20, 10, 2, 30
STREAM_WEIGHTS = (1.0, 10.0)
STRIDE = 16.0 / 25.0
# Measured dense fp32 matmul rate of this machine (docs/PLATFORM.md), TF and numpy alike.
MATMUL_GFLOPS = 190.0


def count_flops(feature_dim, num_steps=STEPS, q=Q):
    """Multiply-adds x 2 of one video's localization, ignoring element-wise work.

    `essential`: what Algorithm 2 needs at least; attention logits `W H^T` once, `A H` for the
    video scores and for each (class, step) (the shifting norm needs it), the class projections
    `h_k . z_m^j` once, the FC layer. `as_run`: the library computes the logits twice (video
    scores, then the segment scorer, which hoists them out of the step loop).
    """
    logits = 2 * K * feature_dim * M
    attend = 2 * M * K * feature_dim
    projections = 2 * K * feature_dim * M * q
    fc = 2 * M * feature_dim * C
    essential = logits + attend * (1 + q * num_steps) + projections + fc
    as_run = essential + logits  # the video scores and the segment scorer each compute them once
    return {"essential": essential, "as_run": as_run}


def eager_localize(model, features, stride, hoisted=False):
    """Algorithm 2 + Eq. 11 as a plain eager Python loop: per class, per step, eager library ops.

    `hoisted=False` is Algorithm 2 as written: at every step, compute lambda^j on the remaining
    segments from scratch (`IWOClassifier.csc_terms_per_stream`, Eqs. 7-10). `hoisted=True` uses
    `make_segment_scorer`, which computes the mask-independent products once per class, as the
    in-graph version does; it isolates what graph execution alone buys.
    """
    features = tf.constant(features)
    segments = resample_to_segments(features, K, training=False)[None]
    keep = tf.ones([1, K], tf.float32)
    video_scores = model.video_class_scores(segments, keep)
    classes = tf.math.top_k(video_scores, k=Q).indices  # [1, Q]
    selected_all, scores_all = [], []
    for q in range(Q):
        class_index = classes[:, q : q + 1]
        if hoisted:
            scorer = model.make_segment_scorer(segments, class_index, "csc", STREAM_WEIGHTS)
        else:

            def scorer(mask, class_index=class_index):
                terms = model.csc_terms_per_stream(segments, mask, class_index)
                return tf.add_n([w * tf.nn.relu(t) for w, t in zip(STREAM_WEIGHTS, terms)])

        remaining = tf.ones([1, 1, K], tf.bool)
        selected = tf.zeros([1, 1, K], tf.bool)
        kept_scores = tf.zeros([1, 1, K], tf.float32)
        for _ in range(STEPS):
            scores = scorer(tf.cast(remaining, tf.float32))
            chosen = select_top_p(scores, remaining, P)
            kept_scores = tf.where(chosen, scores, kept_scores)
            selected = tf.logical_or(selected, chosen)
            remaining = tf.logical_and(remaining, tf.logical_not(chosen))
        selected_all.append(selected)
        scores_all.append(kept_scores)
    proposals = proposals_from_selection(tf.concat(selected_all, 1), tf.concat(scores_all, 1))
    num_snippets = tf.shape(features)[:1]
    boundaries = segment_boundaries_sec(num_snippets, K, [stride], [0.0], [0.0])
    start, end = proposals_to_seconds(proposals, boundaries)
    return flatten_detections(classes, tf.ones_like(classes, tf.bool), proposals, start, end)


def time_eager(model, videos, served, hoisted):
    """Latencies of the eager loop, checking its detections against the SavedModel's."""
    eager_localize(model, videos[0], STRIDE, hoisted)  # the first call pays one-off kernel setup
    latencies, max_diff = [], 0.0
    for x, reference in zip(videos, served):
        t0 = time.perf_counter()
        detections = eager_localize(model, x, STRIDE, hoisted)
        latencies.append(time.perf_counter() - t0)
        n = int(reference["num_valid"])
        if int(detections.num_valid[0]) != n or not np.array_equal(detections.class_index[0, :n], reference["class_index"][:n]):
            raise AssertionError("eager loop and SavedModel disagree on the detections")
        for key in ("score", "start_sec", "end_sec"):
            diff = np.abs(getattr(detections, key)[0, :n].numpy() - reference[key][:n])
            max_diff = max(max_diff, float(np.max(diff, initial=0.0)))
    return latencies, max_diff


def summarize(latencies):
    latencies = sorted(latencies)
    return {
        "videos": len(latencies),
        "latency_ms_mean": 1e3 * statistics.fmean(latencies),
        "latency_ms_p50": 1e3 * latencies[len(latencies) // 2],
        "latency_ms_p90": 1e3 * latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))],
        "videos_per_s": len(latencies) / sum(latencies),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=20, help="videos timed through the SavedModel")
    parser.add_argument("--eager_videos", type=int, default=4, help="videos timed through the eager loop")
    parser.add_argument("--num_snippets", type=int, default=400, help="T per video (400 = 4.3 min of 16-frame snippets at 25 fps)")
    parser.add_argument("--batch_size", type=int, default=8, help="records per serving_default request")
    parser.add_argument("--output", default=os.path.join(REPO, "benchmarks", "results", "serving_localize.json"))
    args = parser.parse_args()

    tf.keras.utils.set_random_seed(0)
    model = IWOClassifier(num_classes=C, num_segments=K, stream_dims=STREAM_DIMS, num_modules=M)
    model.build()
    # Random, non-degenerate weights: spread the position bias and the FC bias a little.
    for variable in model.weights:
        if "position_bias" in variable.path or variable.path.endswith("bias"):
            variable.assign(np.random.default_rng(1).normal(0, 0.5, variable.shape).astype("float32"))
    feature_dim = sum(STREAM_DIMS)
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(args.num_snippets, feature_dim)).astype(np.float32) for _ in range(args.videos)]

    export_base = tempfile.mkdtemp(prefix="iwo-bench-")
    start = time.perf_counter()
    version_dir = export_saved_model(
        model,
        class_names=[f"class_{i}" for i in range(C)],
        export_base=export_base,
        model_name="iwo",
        num_steps=STEPS,
        top_q=Q,
        segments_per_step=P,
        stream_weights=STREAM_WEIGHTS,
        snippet_stride_sec=STRIDE,
    )
    export_s = time.perf_counter() - start

    records = [serialize_features(f"v{i}", x, snippet_stride_sec=STRIDE) for i, x in enumerate(videos)]
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], version_dir)
        sig = meta.signature_def["localize"]
        fetches = {key: info.name for key, info in sig.outputs.items()}
        feed_name = sig.inputs["features"].name
        for x in videos[:3]:  # warm up (TF Serving replays the warmup file for this)
            sess.run(fetches, {feed_name: x})
        served, latencies = [], []
        for x in videos:
            t0 = time.perf_counter()
            served.append(sess.run(fetches, {feed_name: x}))
            latencies.append(time.perf_counter() - t0)

        batch_sig = meta.signature_def["serving_default"]
        batch_fetches = {key: info.name for key, info in batch_sig.outputs.items()}
        batch_feed = batch_sig.inputs["examples"].name
        sess.run(batch_fetches, {batch_feed: records[: args.batch_size]})
        batch_times, batch_videos = [], 0
        for begin in range(0, len(records), args.batch_size):
            chunk = records[begin : begin + args.batch_size]
            t0 = time.perf_counter()
            sess.run(batch_fetches, {batch_feed: chunk})
            batch_times.append(time.perf_counter() - t0)
            batch_videos += len(chunk)

    eager_latencies, max_diff = time_eager(model, videos[: args.eager_videos], served, hoisted=False)
    hoisted_latencies, hoisted_diff = time_eager(model, videos[: args.eager_videos], served, hoisted=True)
    max_diff = max(max_diff, hoisted_diff)

    flops = count_flops(feature_dim)
    saved = summarize(latencies)
    eager = summarize(eager_latencies)
    eager_hoisted = summarize(hoisted_latencies)
    floor_ms = {name: 1e3 * value / (MATMUL_GFLOPS * 1e9) for name, value in flops.items()}
    result = {
        "setting": {
            "D": feature_dim, "K": K, "M": M, "C": C, "num_steps": STEPS, "top_q": Q,
            "segments_per_step": P, "T": args.num_snippets, "batch_size": args.batch_size,
        },
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "tensorflow": tf.__version__},
        "export_seconds": export_s,
        "saved_model_localize": saved,
        "saved_model_serving_default": {
            "videos": batch_videos,
            "videos_per_s": batch_videos / sum(batch_times),
            "latency_ms_per_batch_mean": 1e3 * statistics.fmean(batch_times),
        },
        "eager_loop": eager,
        "eager_loop_hoisted_scorer": eager_hoisted,
        "speedup_vs_eager_latency": eager["latency_ms_mean"] / saved["latency_ms_mean"],
        "speedup_vs_eager_videos_per_s": saved["videos_per_s"] / eager["videos_per_s"],
        "speedup_vs_eager_hoisted_latency": eager_hoisted["latency_ms_mean"] / saved["latency_ms_mean"],
        "max_abs_diff_eager_vs_saved_model": max_diff,
        "flops_per_video": flops,
        "matmul_gflops_assumed": MATMUL_GFLOPS,
        "floor_ms_per_video": floor_ms,
        "saved_model_vs_floor": saved["latency_ms_mean"] / floor_ms["essential"],
        "achieved_gflops_as_run": flops["as_run"] / (saved["latency_ms_mean"] * 1e-3) / 1e9,
        "command": "python " + " ".join([os.path.relpath(__file__, REPO)] + sys.argv[1:]),
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    print(
        f"SavedModel localize (TF1 Session, 1 video/request): {saved['latency_ms_mean']:.1f} ms mean, "
        f"p50 {saved['latency_ms_p50']:.1f} ms, {saved['videos_per_s']:.1f} videos/s\n"
        f"SavedModel serving_default (batches of {args.batch_size} records): "
        f"{result['saved_model_serving_default']['videos_per_s']:.1f} videos/s\n"
        f"eager Python loop (Algorithm 2 as written): {eager['latency_ms_mean']:.1f} ms mean, "
        f"{eager['videos_per_s']:.2f} videos/s -> SavedModel speedup {result['speedup_vs_eager_latency']:.1f}x "
        f"(target >= 10x)\n"
        f"eager Python loop (hoisted scorer): {eager_hoisted['latency_ms_mean']:.1f} ms mean "
        f"-> SavedModel speedup {result['speedup_vs_eager_hoisted_latency']:.1f}x\n"
        f"max |diff| of detections, eager vs SavedModel: {max_diff:.2e}\n"
        f"FLOPs/video: essential {flops['essential'] / 1e6:.0f} M, as run {flops['as_run'] / 1e6:.0f} M; "
        f"floor at {MATMUL_GFLOPS:.0f} GFLOP/s: {floor_ms['essential']:.2f} ms "
        f"-> SavedModel is {result['saved_model_vs_floor']:.1f}x the floor "
        f"({result['achieved_gflops_as_run']:.0f} GFLOP/s achieved)\n"
        f"wrote {args.output}"
    )


if __name__ == "__main__":
    main()

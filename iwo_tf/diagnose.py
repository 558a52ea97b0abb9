"""Is the winner-takes-all regime present? How peaked a trained model's attention is, and where it goes.

    python -m iwo_tf.diagnose --workdir=RUN [--subset=test] [--max_videos=0]

Reads the run's `run_config.json` (data_dir, K) and `model.keras`, attends every video of the subset
with all K segments kept (no removal), and reports, per stream and overall:

* `entropy_ratio`: the mean over videos and modules of the attention entropy divided by log K
  (1 = uniform, i.e. mean pooling; 0 = all weight on one segment);
* `top10_share`: the attention mass on the top 10% of segments (0.1 = uniform);
* where the data knows its snippet parts (`snippet_parts.json` of synthetic data): the attention
  share on strong (climax), weak and background snippets, beside the share uniform attention would
  give (the `*_uniform` keys: the fraction of the video that part covers) and their ratio (`*_lift`).

Printed, and written atomically to `RUN/attention_diagnosis.json` (or `--output`).
"""
from __future__ import annotations

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()

import math
import os
from typing import Dict, Optional, Sequence

import numpy as np
from absl import app, flags

from iwo_tf.data.dataset_info import dataset_problem, load_dataset_info
from iwo_tf.data.pipeline import make_dataset
from iwo_tf.data.synthetic import load_snippet_parts
from iwo_tf.errors import UserInputError, exit_on_user_error
from iwo_tf.io import write_json_atomic
from iwo_tf.training.finished_run import FinishedRun

PART_KEYS = ("background", "weak", "strong")  # index = part label (feature_model.BACKGROUND/WEAK/STRONG)
DIAGNOSIS_JSON = "attention_diagnosis.json"


def attention_entropy_ratio(attention: np.ndarray, keep: Optional[np.ndarray] = None) -> np.ndarray:
    """Entropy of each attention distribution over segments divided by log of the kept-segment count.

    Args:
        attention: `[..., K]` non-negative weights summing to 1 over the kept segments.
        keep: `[..., K]` boolean (broadcastable), None = all kept.

    Returns:
        `[...]` ratios in [0, 1]; 1 = uniform over the kept segments (NaN when fewer than 2 are kept).
    """
    attention = np.asarray(attention, np.float64)
    keep = np.ones_like(attention, bool) if keep is None else np.broadcast_to(np.asarray(keep, bool), attention.shape)
    safe = np.where(attention > 0, attention, 1.0)
    entropy = -np.sum(np.where(keep & (attention > 0), attention * np.log(safe), 0.0), axis=-1)
    kept = np.sum(keep, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(kept > 1, entropy / np.log(np.maximum(kept, 2)), np.nan)


def top_share(attention: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """`[...]`: attention mass on the `ceil(fraction * K)` highest-weighted segments."""
    attention = np.asarray(attention, np.float64)
    count = max(1, int(math.ceil(fraction * attention.shape[-1])))
    return np.sum(np.sort(attention, axis=-1)[..., -count:], axis=-1)


def segment_part_fractions(parts: np.ndarray, num_segments: int) -> np.ndarray:
    """`[K, 3]`: per segment, the share of its snippets that are background, weak and strong.

    Segment k covers snippets `[floor(k T / K), max(floor((k+1) T / K), start + 1))`, as in
    `iwo_tf.data.pipeline`.
    """
    num_snippets = len(parts)
    k = np.arange(num_segments)
    starts = (k * num_snippets) // num_segments
    ends = np.maximum(((k + 1) * num_snippets) // num_segments, starts + 1)
    one_hot = np.eye(len(PART_KEYS))[np.asarray(parts, int)]
    cumulative = np.concatenate([np.zeros((1, len(PART_KEYS))), np.cumsum(one_hot, axis=0)])
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)[:, None]


def attention_part_shares(attention: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """`[..., 3]`: the attention mass on background, weak and strong snippets.

    Args:
        attention: `[..., K]` weights (summing to 1).
        fractions: `[K, 3]` from `segment_part_fractions`.
    """
    return np.asarray(attention, np.float64) @ fractions


class _Accumulator:
    """Sums per-video statistics for one stream (or for all streams together)."""

    def __init__(self):
        self.values: Dict[str, list] = {}

    def add(self, key: str, value) -> None:
        self.values.setdefault(key, []).extend(np.ravel(value).tolist())

    def summary(self) -> dict:
        out = {key: float(np.nanmean(v)) for key, v in self.values.items()}
        for name in PART_KEYS:
            if f"{name}_share" in out and out.get(f"{name}_uniform", 0) > 0:
                out[f"{name}_lift"] = out[f"{name}_share"] / out[f"{name}_uniform"]
        return out


def diagnose_attention(model, dataset, num_segments: int, parts: Optional[dict] = None, max_videos: int = 0) -> dict:
    """Attention statistics of `model` over `dataset` (all segments kept).

    Args:
        model: an `IWOClassifier` with attention pooling.
        dataset: batches from `make_dataset(..., training=False)` (features, mask, video_id).
        num_segments: K.
        parts: `{video_id: [T] part labels}` or None.
        max_videos: stop after this many videos (0 = all).

    Returns:
        `{"num_videos", "num_videos_with_parts", "overall": {...}, "streams": [{...}, ...]}`.
    """
    if getattr(model, "pooling", "attention") != "attention":
        raise UserInputError(f"the model pools by {model.pooling!r}: there is no attention to diagnose")
    streams = [_Accumulator() for _ in model.stream_dims]
    overall = _Accumulator()
    seen = with_parts = 0
    for batch in dataset:
        features, mask = batch["features"], batch["mask"]
        keep = mask.numpy() > 0
        terms = [t.attention.numpy()[:, 0] for t in model.attend_streams(features, mask)]  # [B, M, K] each
        ids = [v.decode() for v in batch["video_id"].numpy()]
        for row, video in enumerate(ids):
            if max_videos and seen >= max_videos:
                break
            seen += 1
            fractions = None
            if parts is not None and video in parts:
                fractions = segment_part_fractions(parts[video], num_segments)
                with_parts += 1
            for stream, attention in zip(streams, terms):
                a = attention[row]  # [M, K]
                for target in (stream, overall):
                    target.add("entropy_ratio", attention_entropy_ratio(a, keep[row][None]))
                    target.add("top10_share", top_share(a, 0.1))
                    if fractions is not None:
                        shares = attention_part_shares(a, fractions)
                        uniform = attention_part_shares(keep[row] / keep[row].sum(), fractions)
                        for i, name in enumerate(PART_KEYS):
                            target.add(f"{name}_share", shares[:, i])
                            target.add(f"{name}_uniform", uniform[i])
        if max_videos and seen >= max_videos:
            break
    return {
        "num_videos": seen,
        "num_videos_with_parts": with_parts,
        "overall": overall.summary(),
        "streams": [s.summary() for s in streams],
    }


def diagnose_run(workdir: str, subset: str = "test", max_videos: int = 0, batch_size: int = 16) -> dict:
    """Loads a run's model and data and returns `diagnose_attention`'s report plus where it came from.

    Raises:
        UserInputError: the run or its data cannot be found.
    """
    run = FinishedRun(workdir)
    data_dir = run.data_dir
    problem = dataset_problem(data_dir)
    if problem is not None:
        raise UserInputError(f"{run.config_path}: its data_dir {data_dir} is not usable ({problem})")
    info = load_dataset_info(data_dir)
    if subset not in info.subsets:
        raise UserInputError(f"{data_dir}: no '{subset}' subset (has {', '.join(sorted(info.subsets))})")
    model = run.load_model()
    num_segments = int(model.num_segments)
    dataset = make_dataset(info.files(subset), num_segments=num_segments, num_classes=info.num_classes, training=False, batch_size=batch_size)
    parts = load_snippet_parts(data_dir)
    report = diagnose_attention(model, dataset, num_segments, parts, max_videos)
    report.update({"workdir": os.path.abspath(workdir), "data_dir": data_dir, "subset": subset, "num_segments": num_segments,
                   "parts_known": parts is not None})
    return report


def format_report(report: dict) -> str:
    """A few readable lines."""
    lines = [f"attention over {report['num_videos']} {report.get('subset', '')} videos, K={report.get('num_segments')}"
             f" ({report['num_videos_with_parts']} with known snippet parts)"]
    names = ["overall"] + [f"stream{i}" for i in range(len(report["streams"]))]
    for name, stats in zip(names, [report["overall"]] + report["streams"]):
        text = f"  {name:8s} entropy/log K {stats['entropy_ratio']:.3f}  top-10% share {stats['top10_share']:.3f}"
        if "strong_share" in stats:
            text += "  " + "  ".join(
                f"{p} {stats[f'{p}_share']:.3f} (uniform {stats[f'{p}_uniform']:.3f})" for p in ("strong", "weak", "background")
            )
        lines.append(text)
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    del argv
    values = flags.FLAGS
    report = diagnose_run(values.workdir, values.subset, values.max_videos)
    print(format_report(report))
    output = values.output or os.path.join(values.workdir, DIAGNOSIS_JSON)
    write_json_atomic(output, report)
    print(f"Wrote {output}")


def run():
    """Entry point of the `iwo-diagnose` console script (setup.py)."""
    flags.DEFINE_string("workdir", None, "A finished training run (run_config.json, model.keras).", required=True)
    flags.DEFINE_string("subset", "test", "Which subset to attend (train or test).")
    flags.DEFINE_integer("max_videos", 0, "Stop after this many videos (0 = all).", lower_bound=0)
    flags.DEFINE_string("output", "", f"Where to write the JSON; default RUN/{DIAGNOSIS_JSON}.")
    app.run(lambda argv: exit_on_user_error(main, argv))


if __name__ == "__main__":
    run()

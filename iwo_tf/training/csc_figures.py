"""Figures of CSC curves against the ground truth (the paper's Figs. 3 and 7) for TensorBoard."""
from __future__ import annotations

import io
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no screen on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from iwo_tf.winners_out import segment_boundaries_sec, winners_out_select  # noqa: E402


def csc_curve_png(
    *,
    video_id: str,
    class_name: str,
    boundaries_sec: np.ndarray,
    csc_scores: np.ndarray,
    selected: np.ndarray,
    attention: np.ndarray | None,
    ground_truth: Sequence[Sequence[float]],
    title_suffix: str = "",
) -> bytes:
    """Draws one video's CSC scores for one class over time, with its ground truth and selection.

    Args:
        video_id: shown in the title.
        class_name: the class the scores are for.
        boundaries_sec: `[K + 1]` segment boundaries in seconds.
        csc_scores: `[K]` CSC scores of the class on all segments (Eq. 10).
        selected: `[K]` bool, segments winners-out testing selected for the class.
        attention: optional `[K]` mean attention weight, drawn for comparison (rescaled).
        ground_truth: `[[start, end], ...]` seconds of the class's ground-truth instances.
        title_suffix: appended to the title (e.g. the winners-out step).

    Returns:
        PNG bytes.
    """
    centers = 0.5 * (boundaries_sec[:-1] + boundaries_sec[1:])
    fig, ax = plt.subplots(figsize=(8, 2.6), dpi=80)
    for start, end in ground_truth:
        ax.axvspan(start, end, color="tab:blue", alpha=0.18, lw=0)
    top = float(np.max(csc_scores)) if np.max(csc_scores) > 0 else 1.0
    ax.plot(centers, csc_scores, color="tab:red", lw=1.2, label="CSC")
    if attention is not None and np.max(attention) > 0:
        ax.plot(centers, attention / np.max(attention) * top, color="tab:gray", lw=0.8, ls="--", label="attention (scaled)")
    for k in np.flatnonzero(selected):
        ax.axvspan(boundaries_sec[k], boundaries_sec[k + 1], ymin=0.0, ymax=0.06, color="tab:green", lw=0)
    ax.set_xlim(boundaries_sec[0], boundaries_sec[-1])
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("seconds (blue: ground truth, green: selected)")
    ax.set_title(f"{video_id} / {class_name}{title_suffix}", fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def curve_video_ids(test_ids: Sequence[str], count: int) -> list:
    """`count` test videos spread evenly over the sorted ids (the same ones at every step)."""
    if count <= 0:
        return []
    return list(test_ids[:: max(1, len(test_ids) // count)][:count])


def write_csc_figures(model, dataset, *, video_ids: Sequence[str], database: Mapping, class_names: Sequence[str],
                      config, run_dir, writer, wo_step: int, summary_step: int | None = None) -> list:
    """Draws the CSC curve of each video's top class after a winners-out step, to PNG files and TensorBoard.

    Each figure is written atomically to `run_dir.figure_path(wo_step, video_id)` (a safe file name
    whatever the id holds; no symlink followed) and as image `csc_curves/<video_id>`.

    Args:
        model: the `IWOClassifier`.
        dataset: the test split (an evaluation dataset).
        video_ids: the videos to draw (`curve_video_ids`).
        database: the ground truth's `database` mapping (video id -> annotations).
        class_names: index -> class name.
        config: the experiment config (`data`, `winners_out` and `testing` sections).
        run_dir: the run's `RunDir`.
        writer: the test summary writer.
        wo_step: the winners-out step just trained (1-based).
        summary_step: the TensorBoard step of the images (the global epoch); None uses `wo_step`.

    Returns:
        The files written.
    """
    wanted = set(video_ids)
    written = []
    if not wanted:
        return written
    stream_weights = config.winners_out.stream_weights
    for batch in dataset:
        ids = [v.decode() for v in batch["video_id"].numpy()]
        rows = [i for i, v in enumerate(ids) if v in wanted]
        if not rows:
            continue
        features = tf.gather(batch["features"], rows)
        classes = np.argmax(tf.gather(batch["labels"], rows).numpy(), axis=-1).astype("int32")[:, None]
        scorer = model.make_segment_scorer(features, classes, method="csc", stream_weights=stream_weights)
        full = tf.ones(tf.shape(features)[:2])
        csc = scorer(full).numpy()[:, 0]
        attention = np.mean([t.attention.numpy()[:, 0].mean(axis=1) for t in model.attend_streams(features, full)], axis=0)
        selection = winners_out_select(
            scorer, full, 1, config.testing.num_steps, config.testing.segments_per_step
        ).selected.numpy()[:, 0]
        boundaries = segment_boundaries_sec(
            tf.gather(batch["num_snippets"], rows), config.data.num_segments,
            tf.gather(batch["snippet_stride_sec"], rows), tf.gather(batch["snippet_offset_sec"], rows),
            tf.gather(batch["duration"], rows),
        ).numpy()
        for j, row in enumerate(rows):
            class_name = class_names[classes[j, 0]]
            gt = [a["segment"] for a in database[ids[row]]["annotations"] if a["label"] == class_name]
            png = csc_curve_png(
                video_id=ids[row], class_name=class_name, boundaries_sec=boundaries[j], csc_scores=csc[j],
                selected=selection[j], attention=attention[j], ground_truth=gt,
                title_suffix=f" (after winners-out step {wo_step})",
            )
            written.append(run_dir.write_figure(wo_step, ids[row], png))
            with writer.as_default(step=wo_step if summary_step is None else summary_step):
                tf.summary.image(f"csc_curves/{ids[row]}", tf.image.decode_png(png)[None])
    return written

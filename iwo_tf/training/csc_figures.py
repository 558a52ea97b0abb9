"""Figures of CSC curves against the ground truth (the paper's Figs. 3 and 7) for TensorBoard."""
from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no screen on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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

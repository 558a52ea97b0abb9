"""Draws what winners-out testing localized (the paper's Figs. 6-7) as one PNG.

Per video a title line, then per predicted class one panel: the class's segment-score curve on all
segments (CSC, Eq. 10, or attention), the area under it coloured by the winners-out step that took each
segment (a strip at the bottom marks every selected segment, even where its score is 0), the ground
truth shaded grey, and below it two lanes: ground-truth instances and the detections with their
scores. The time axis is in seconds. The layout is fixed in pixels, so the size of the image is known
in advance (`sheet_size_px`).
"""
from __future__ import annotations

import io
from typing import Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from iwo_tf.visualization.class_track import ClassTrack  # noqa: E402
from iwo_tf.visualization.video_localization import VideoLocalization  # noqa: E402

DPI = 100
TITLE_PX = 36  # per video
PANEL_PX = 224  # per predicted class
_HEADING_PX, _CURVE_PX, _GAP_PX, _LANES_PX = 22, 118, 6, 46  # the rest of a panel holds the tick labels
LEFT_PX, RIGHT_PX = 104, 150
GROUND_TRUTH_COLOR = "#555555"
DETECTION_COLOR = "tab:red"
MIN_WIDTH_PX = 600


def sheet_size_px(videos: Sequence[VideoLocalization], width_px: int) -> Tuple[int, int]:
    """(width, height) in pixels of the PNG `render_png` draws for `videos`."""
    return int(width_px), int(sum(TITLE_PX + PANEL_PX * len(v.tracks) for v in videos))


def step_colors(num_steps: int):
    """One colour per winners-out step, dark (step 1) to light (last step)."""
    cmap = plt.get_cmap("viridis")
    return [cmap(0.9 * i / max(1, num_steps - 1)) for i in range(max(1, num_steps))]


def _axes(fig, top_px: float, height_px: float, width_px: int, height_total: int):
    left = LEFT_PX / width_px
    width = (width_px - LEFT_PX - RIGHT_PX) / width_px
    bottom = 1.0 - (top_px + height_px) / height_total
    return fig.add_axes([left, bottom, width, height_px / height_total])


def _draw_curve(ax, video: VideoLocalization, track: ClassTrack, colors) -> None:
    edges = video.boundaries_sec
    curve = np.maximum(np.asarray(track.curve, float), 0.0)
    top = float(curve.max()) if curve.max() > 0 else 1.0
    for start, end in track.ground_truth:
        ax.axvspan(start, end, color=GROUND_TRUTH_COLOR, alpha=0.13, lw=0)
    steps = np.asarray(track.selection_step)
    widths = np.diff(edges)
    for s in range(video.num_steps):
        chosen = steps == s
        if np.any(chosen):
            ax.bar(edges[:-1][chosen], curve[chosen], width=widths[chosen], align="edge", color=colors[s], lw=0)
            # The strip shows every selected segment, also those whose score is 0.
            ax.bar(edges[:-1][chosen], np.full(chosen.sum(), 0.06 * top), bottom=-0.08 * top,
                   width=widths[chosen], align="edge", color=colors[s], lw=0)
    ax.stairs(curve, edges, color="black", lw=1.0)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(-0.09 * top, 1.1 * top)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("CSC score" if video.score_method == "csc" else "attention", fontsize=8)
    ax.tick_params(labelbottom=False, labelsize=7)
    handles = [Patch(color=colors[s], label=f"step {s + 1}") for s in range(video.num_steps)]
    handles.append(Patch(color=GROUND_TRUTH_COLOR, alpha=0.25, label="ground truth"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.02), fontsize=7, frameon=False,
              ncol=1 if len(handles) <= 7 else 2, title="winners-out", title_fontsize=7,
              handlelength=1.0, columnspacing=0.6, labelspacing=0.25)


def _draw_lanes(ax, video: VideoLocalization, track: ClassTrack, axis_width_px: float) -> None:
    edges = video.boundaries_sec
    span = max(float(edges[-1] - edges[0]), 1e-6)
    for start, end in track.ground_truth:
        ax.broken_barh([(start, end - start)], (1.12, 0.76), color=GROUND_TRUTH_COLOR)
    best = max([score for _, _, score in track.detections], default=1.0) or 1.0
    for start, end, score in track.detections:
        alpha = 0.3 + 0.7 * max(0.0, score) / best
        ax.broken_barh([(start, end - start)], (0.12, 0.76), facecolor=DETECTION_COLOR, alpha=alpha,
                      edgecolor="white", linewidth=0.8)
        if (end - start) / span * axis_width_px >= 24:
            ax.text(0.5 * (start + end), 0.5, f"{score:.2f}", ha="center", va="center",
                    fontsize=7 if (end - start) / span * axis_width_px >= 30 else 6, color="white", fontweight="bold")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, 2)
    ax.set_yticks([1.5, 0.5], ["ground truth", "detections"], fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("time (s)", fontsize=8, labelpad=1)


def render_png(videos: Sequence[VideoLocalization], width_px: int = 1400) -> bytes:
    """Draws `videos` one below the other (a contact sheet for several) and returns PNG bytes.

    Args:
        videos: what `localize_for_display` returned.
        width_px: image width in pixels (at least 600); the height follows from the content
            (`sheet_size_px`).
    """
    width_px = max(int(width_px), MIN_WIDTH_PX)
    _, height_px = sheet_size_px(videos, width_px)
    fig = plt.figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    axis_width_px = width_px - LEFT_PX - RIGHT_PX
    top = 0.0
    for video in videos:
        end = float(video.boundaries_sec[-1])
        title = (f"{video.video_id}   ({end:.1f} s; winners-out testing: {video.num_steps} steps x "
                 f"{video.segments_per_step} segments)")
        if video.missed_classes:
            title += "   ground truth also has: " + ", ".join(video.missed_classes) + " (not predicted)"
        fig.text(8 / width_px, 1.0 - (top + 24) / height_px, title, fontsize=10, fontweight="bold")
        top += TITLE_PX
        colors = step_colors(video.num_steps)
        for rank, track in enumerate(video.tracks, start=1):
            heading = (f"{rank}. {track.class_name}   video score {track.video_score:.2f}   "
                       f"{len(track.ground_truth)} ground-truth instance(s), {len(track.detections)} detection(s), "
                       f"{int(np.sum(np.asarray(track.selection_step) >= 0))} of {len(track.curve)} segments selected")
            fig.text(LEFT_PX / width_px, 1.0 - (top + 16) / height_px, heading, fontsize=9)
            curve_ax = _axes(fig, top + _HEADING_PX, _CURVE_PX, width_px, height_px)
            _draw_curve(curve_ax, video, track, colors)
            lanes_ax = _axes(fig, top + _HEADING_PX + _CURVE_PX + _GAP_PX, _LANES_PX, width_px, height_px)
            _draw_lanes(lanes_ax, video, track, axis_width_px)
            top += PANEL_PX
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()

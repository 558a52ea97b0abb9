"""Winners-out testing of a batch of videos, kept in full for drawing (not just the detections)."""
from __future__ import annotations

import dataclasses
from typing import List, Mapping, Sequence

import numpy as np
import tensorflow as tf

from iwo_tf.visualization.class_track import ClassTrack
from iwo_tf.winners_out import detections_to_results, localize_incremental, segment_boundaries_sec


@dataclasses.dataclass
class VideoLocalization:
    """Everything drawn for one video.

    Args:
        video_id: the video.
        boundaries_sec: `[K + 1]` segment boundaries in seconds.
        num_steps: winners-out testing steps N_step.
        segments_per_step: p.
        score_method: `csc` or `attention` (what the curves show).
        tracks: one `ClassTrack` per predicted (top-q) class, best first.
        missed_classes: ground-truth classes of the video that are not among the predicted ones.
    """

    video_id: str
    boundaries_sec: np.ndarray
    num_steps: int
    segments_per_step: int
    score_method: str
    tracks: List[ClassTrack]
    missed_classes: List[str]


def localize_for_display(
    model,
    batch: Mapping[str, tf.Tensor],
    *,
    class_names: Sequence[str],
    settings: Mapping,
    ground_truth: Mapping[str, list] | None = None,
) -> List[VideoLocalization]:
    """Runs `iwo_tf.winners_out.localize_incremental` on a batch and keeps its selection steps and
    score curves.

    The detections are the ones training wrote to its detections JSON and the export serves (one
    implementation of inference; tests hold it to the reference `localize`).

    Args:
        model: an `IWOClassifier`.
        batch: `features [B, K, D]`, `video_id`, `num_snippets`, `snippet_stride_sec`,
            `snippet_offset_sec`, `duration` (as `iwo_tf.data.pipeline.make_dataset` yields them).
        class_names: C names.
        settings: `num_steps`, `top_q`, `segments_per_step`, `score_method`, `stream_weights`.
        ground_truth: `{video_id: [{"label", "segment"}, ...]}` annotations, or None.

    Returns:
        One `VideoLocalization` per video of the batch.
    """
    features = tf.convert_to_tensor(batch["features"], tf.float32)
    num_steps = int(settings["num_steps"])
    method = settings.get("score_method", "csc")
    weights = settings.get("stream_weights")
    out = localize_incremental(
        model, features, num_snippets=batch["num_snippets"], snippet_stride_sec=batch["snippet_stride_sec"],
        snippet_offset_sec=batch["snippet_offset_sec"], duration=batch["duration"], num_steps=num_steps,
        top_q=int(settings["top_q"]), segments_per_step=int(settings["segments_per_step"]), method=method,
        stream_weights=weights,
    )
    scorer = model.make_segment_scorer(features, out.class_indices, method=method, stream_weights=weights)
    curves = scorer(tf.ones(tf.shape(features)[:2])).numpy()
    boundaries = segment_boundaries_sec(
        batch["num_snippets"], model.num_segments, batch["snippet_stride_sec"], batch["snippet_offset_sec"],
        batch["duration"],
    ).numpy()
    video_ids = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(batch["video_id"]).tolist()]
    detections = detections_to_results(video_ids, out.detections, class_names)
    classes = out.class_indices.numpy()
    steps = out.selection.selection_step.numpy()
    selected_scores = out.selection.scores.numpy()
    scores = out.video_scores.numpy()
    videos = []
    for row, video_id in enumerate(video_ids):
        annotations = (ground_truth or {}).get(video_id, [])
        tracks = []
        for q, class_index in enumerate(classes[row]):
            name = class_names[int(class_index)]
            tracks.append(ClassTrack(
                class_index=int(class_index),
                class_name=name,
                video_score=float(scores[row, class_index]),
                curve=curves[row, q],
                selection_step=steps[row, q],
                selected_score=selected_scores[row, q],
                detections=[(d["segment"][0], d["segment"][1], d["score"]) for d in detections[video_id] if d["label"] == name],
                ground_truth=[tuple(a["segment"]) for a in annotations if a["label"] == name],
            ))
        predicted = {t.class_name for t in tracks}
        missed = sorted({a["label"] for a in annotations} - predicted)
        videos.append(VideoLocalization(
            video_id=video_id, boundaries_sec=boundaries[row], num_steps=num_steps,
            segments_per_step=int(settings["segments_per_step"]), score_method=method, tracks=tracks,
            missed_classes=missed,
        ))
    return videos

"""ActionFormer layout: `<features_dir>/<video>.npy` `[T, 2048]` plus `thumos14.json`.

Features are 16-frame clips every 4 frames at the video's own fps (docs/DATA.md, layout 2): clip i is
centred at `(4 i + 8) / fps`. With the schema's span convention (snippet i spans
`[offset + i*stride, offset + (i+1)*stride)`, centre `offset + (i + 0.5) * stride`) that is
`stride = 4 / fps` and `offset = (8 - 2) / fps`.
"""
from __future__ import annotations

import math

from iwo_tf.data import validation
from iwo_tf.data.layouts.base import (
    LayoutContents,
    SourceVideo,
    canonical_subset,
    match_annotations_and_features,
    per_video_features,
)
from iwo_tf.data.layouts.input_json import read_annotation_database
from iwo_tf.data.validation import BadVideoError
from iwo_tf.errors import UserInputError


def _check_fps(fps, video: str, path: str):
    """`(problem or None, usable fps)`: a frame rate that is not a positive finite number makes the video bad."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = math.nan
    if math.isfinite(value) and value > 0:
        return None, value
    return BadVideoError(validation.BAD_TIMING, video, path, f"fps {fps!r} must be a positive finite number"), 1.0


def read(annotations_json: str, features_dir: str, *, clip_frames: float = 16, clip_stride_frames: float = 4) -> LayoutContents:
    """Reads the ActionFormer layout.

    Args:
        annotations_json: `thumos14.json`.
        features_dir: folder of `<video>.npy`.
        clip_frames: frames per clip.
        clip_stride_frames: frames between clip starts.
    """
    for name, value in (("clip_frames", clip_frames), ("clip_stride_frames", clip_stride_frames)):
        if not (math.isfinite(value) and value > 0):
            raise UserInputError(f"--{name}={value}: must be positive and finite")
    database = read_annotation_database(annotations_json)
    # Class indices: ActionFormer's own label_id where present (alphabetical for THUMOS14).
    by_id = {}
    for video, item in database.items():
        for a in item.get("annotations", []):
            if "label_id" in a:
                if by_id.setdefault(int(a["label_id"]), a["label"]) != a["label"]:
                    raise BadVideoError(validation.BAD_ANNOTATION, video, annotations_json,
                                        f"label_id {a['label_id']} names both {by_id[int(a['label_id'])]!r} and {a['label']!r}")
    labels = {a["label"] for item in database.values() for a in item.get("annotations", [])}
    if by_id and set(by_id.values()) == labels and sorted(by_id) == list(range(len(by_id))):
        class_names = [by_id[i] for i in range(len(by_id))]
    else:
        class_names = sorted(labels)
    annotated = {}
    for video, item in database.items():
        subset = canonical_subset(item["subset"])
        if subset is None:
            continue
        try:
            fps = item["fps"]
            annotations = [(a["label"], float(a["segment"][0]), float(a["segment"][1])) for a in item.get("annotations", [])]
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise BadVideoError(validation.BAD_ANNOTATION, video, annotations_json, f"malformed entry: {error!r}") from error
        annotated[video] = (subset, (annotations, fps, item.get("duration")))
    pairs, left_out = match_annotations_and_features(
        annotated, per_video_features(features_dir), annotation_path=annotations_json, features_location=features_dir
    )
    videos = []
    for video, subset, (annotations, fps, duration), source in pairs:
        problem, fps = _check_fps(fps, video, annotations_json)
        videos.append(
            SourceVideo(
                video_id=video,
                subset=subset,
                annotations=annotations,
                features=source,
                annotation_path=annotations_json,
                duration=duration,
                snippet_stride_sec=clip_stride_frames / fps,
                snippet_offset_sec=(0.5 * clip_frames - 0.5 * clip_stride_frames) / fps,
                problem=problem,
            )
        )
    return LayoutContents(class_names=class_names, videos=videos, left_out=left_out)

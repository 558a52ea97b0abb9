"""BaS-Net / CoLA / ACM-Net layout: `features/{train,test}/{rgb,flow}/<video>.npy` plus `gt.json`.

Each stream file is `[T, 1024]`, 16-frame snippets at 25 fps (docs/DATA.md, layout 3). `gt.json` has
string segments and no durations: durations come from `video_info` (a `{video: {"duration": s}}`
json such as TH14_video_info.json) when given, else `T * stride`. `split_{train,test}.txt`, when
present, choose the videos; otherwise every annotated video of the subset is used.
"""
from __future__ import annotations

import os
from typing import Optional

from iwo_tf.data import validation
from iwo_tf.data.layouts.base import (
    LayoutContents,
    SourceVideo,
    canonical_subset,
    match_annotations_and_features,
    per_video_features,
    read_lines,
    snippet_timing,
)
from iwo_tf.data.layouts.input_json import read_annotation_database, read_durations
from iwo_tf.data.schema import SUBSETS
from iwo_tf.data.validation import BadVideoError


def read(
    data_dir: str,
    *,
    gt_json: Optional[str] = None,
    video_info_json: Optional[str] = None,
    snippet_frames: float = 16,
    feature_fps: float = 25,
) -> LayoutContents:
    """Reads the BaS-Net layout.

    Args:
        data_dir: the folder holding `features/`, `gt.json` and the split files.
        gt_json: the annotations; None = `<data_dir>/gt.json`.
        video_info_json: optional durations.
        snippet_frames: frames per snippet.
        feature_fps: frame rate the features were extracted at.
    """
    gt_json = gt_json or os.path.join(data_dir, "gt.json")
    database = read_annotation_database(gt_json)
    durations = read_durations(video_info_json) if video_info_json else {}
    stride, offset = snippet_timing(snippet_frames, feature_fps)
    class_names = sorted({a["label"] for item in database.values() for a in item.get("annotations", [])})
    videos, left_out = [], []
    for subset in SUBSETS:
        features_dir = os.path.join(data_dir, "features", subset)
        if not os.path.isdir(features_dir):
            continue
        split_path = os.path.join(data_dir, f"split_{subset}.txt")
        wanted = set(read_lines(split_path)) if os.path.isfile(split_path) else None
        annotated = {}
        for video, item in database.items():
            if canonical_subset(item["subset"]) != subset or (wanted is not None and video not in wanted):
                continue
            try:
                annotations = [(a["label"], float(a["segment"][0]), float(a["segment"][1])) for a in item.get("annotations", [])]
            except (KeyError, TypeError, ValueError, IndexError) as error:
                raise BadVideoError(validation.BAD_ANNOTATION, video, gt_json, f"malformed annotation: {error!r}") from error
            annotated[video] = (subset, annotations)
        for video in sorted((wanted or set()) - set(annotated)):
            left_out.append((BadVideoError(validation.MISSING_ANNOTATION, video, split_path, f"listed in the split but has no {subset} entry in {gt_json}"), subset))
        pairs, missing = match_annotations_and_features(
            annotated, per_video_features(features_dir), annotation_path=gt_json, features_location=features_dir
        )
        left_out.extend((error, subset) for error, _ in missing)
        for video, subset_name, annotations, source in pairs:
            videos.append(
                SourceVideo(video, subset_name, annotations, source, gt_json, durations.get(video), stride, offset,
                           timing_path=video_info_json)
            )
    if not videos and not left_out:
        raise FileNotFoundError(f"{data_dir}: no features/train or features/test folder")
    return LayoutContents(class_names=class_names, videos=videos, left_out=left_out)

"""ActivityNet1.3: the official json (`activity_net.v1-3.min.json`) or the TSP CSV copy, features per video.

* Official json: `{"database": {video: {"subset": "training"|"validation"|"testing", "duration": s,
  "annotations": [{"label", "segment": [s, e]}]}}}`; `training` -> train, `validation` -> test,
  `testing` (no labels) is left out.
* TSP CSV (`activitynet_v1-3_{train,valid}_tsp_groundtruth.csv`): one row per region; rows whose
  `temporal-region-label` is `Action` are instances, the rest are background gaps. The subset comes
  from the file name (`train` -> train, `valid`/`val` -> test).
* Split lists (e.g. ACM-Net's `split_train.txt` / `split_test.txt`, ids with a `v_` prefix) restrict the
  conversion to the listed videos (the ones with features); the subset comes from the list's name.

Video ids are written as in the annotations (no `v_` prefix, like the official evaluator's keys);
feature files may be named `<id>.npy` or `v_<id>.npy`. Snippet timing: back-to-back
`snippet_frames` at `feature_fps`, or, with `fit_to_duration`, `duration / T` (for features that were
resampled to a fixed length).
"""
from __future__ import annotations

import csv
import dataclasses
import os
from typing import Optional, Sequence

from iwo_tf.data import validation
from iwo_tf.data.layouts.base import (
    LayoutContents,
    SourceVideo,
    canonical_subset,
    match_annotations_and_features,
    open_input_text,
    per_video_features,
    read_lines,
    snippet_timing,
)
from iwo_tf.data.layouts.input_json import read_annotation_database, read_class_list
from iwo_tf.data.validation import BadVideoError

_JSON_SUBSETS = {"training": "train", "train": "train", "validation": "test", "val": "test", "testing": None, "test": None}


def _strip_prefix(video: str) -> str:
    return video[2:] if video.startswith("v_") else video


def _subset_from_name(path: str) -> str:
    name = os.path.basename(path).lower()
    if "train" in name:
        return "train"
    if "valid" in name or "val" in name or "test" in name:
        return "test"
    raise ValueError(f"{path}: cannot tell the subset from the file name (expected 'train', 'valid' or 'test' in it)")


def _read_csv(path: str, database: dict) -> None:
    subset = _subset_from_name(path)
    with open_input_text(path, newline="") as f:
        for number, row in enumerate(csv.DictReader(f), 2):
            video = row["video-name"]
            item = database.setdefault(video, {"subset": subset, "duration": row["video-duration"], "annotations": [], "file": path})
            if item["subset"] != subset:
                raise BadVideoError(validation.DUPLICATE_ID, video, path, f"also in {item['file']} ({item['subset']})")
            if row["temporal-region-label"] != "Action":
                continue
            try:
                item["annotations"].append((row["action-label"], float(row["t-start"]), float(row["t-end"])))
            except ValueError as error:
                raise BadVideoError(validation.BAD_ANNOTATION, video, f"{path}:{number}", f"bad times: {error}") from error


def _read_json(path: str, database: dict) -> None:
    entries = read_annotation_database(path)
    for video, entry in entries.items():
        subset = canonical_subset(entry["subset"], _JSON_SUBSETS)
        if subset is None:
            continue
        if video in database:
            raise BadVideoError(validation.DUPLICATE_ID, video, path, f"also in {database[video]['file']}")
        try:
            annotations = [(a["label"], float(a["segment"][0]), float(a["segment"][1])) for a in entry.get("annotations", [])]
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise BadVideoError(validation.BAD_ANNOTATION, video, path, f"malformed annotation: {error!r}") from error
        database[video] = {"subset": subset, "duration": entry.get("duration"), "annotations": annotations, "file": path}


def read(
    annotation_files: Sequence[str],
    features_dir: str,
    *,
    split_files: Sequence[str] = (),
    class_list: Optional[str] = None,
    snippet_frames: float = 16,
    feature_fps: float = 25,
    fit_to_duration: bool = False,
) -> LayoutContents:
    """Reads ActivityNet1.3 annotations (json or CSV files) and matches them with features.

    Args:
        annotation_files: the official json, or the TSP train and valid CSVs.
        features_dir: per-video features (`<id>.npy` / `v_<id>.npy`, or `rgb/` + `flow/`).
        split_files: optional video lists that choose the videos and their subset.
        class_list: optional class list (a JSON list such as TSP's label mapping, or one name per
            line); None = the sorted names found in the annotations.
        snippet_frames: frames per snippet.
        feature_fps: frame rate the features were extracted at.
        fit_to_duration: stride = duration / T instead of snippet_frames / feature_fps.
    """
    database = {}
    for path in annotation_files:
        (_read_json if path.endswith(".json") else _read_csv)(path, database)
    annotation_path = ",".join(annotation_files)
    if split_files:
        chosen = {}
        for path in split_files:
            subset = _subset_from_name(path)
            for listed in read_lines(path):
                chosen[_strip_prefix(listed)] = (subset, path)
        left_out = [
            (BadVideoError(validation.MISSING_ANNOTATION, video, path, f"listed, but not in {annotation_path}"), subset)
            for video, (subset, path) in sorted(chosen.items())
            if video not in database
        ]
        annotated = {v: (subset, database[v]) for v, (subset, _) in chosen.items() if v in database}
    else:
        left_out = []
        annotated = {v: (item["subset"], item) for v, item in database.items()}
    features = per_video_features(features_dir)
    stems = {}
    for key in features:
        video = _strip_prefix(key)
        if video in stems:
            raise BadVideoError(validation.DUPLICATE_ID, video, features_dir,
                                f"both {stems[video]}.npy and {key}.npy are features of this video; keep one of them")
        stems[video] = key
    features_by_id = {video: features[key] for video, key in stems.items()}
    pairs, missing = match_annotations_and_features(
        annotated, features_by_id, annotation_path=annotation_path, features_location=features_dir
    )
    left_out.extend(missing)
    if class_list:
        class_names = load_class_list(class_list)
    else:
        class_names = sorted({a[0] for item in database.values() for a in item["annotations"]})
    stride, offset = snippet_timing(snippet_frames, feature_fps)
    videos = [
        SourceVideo(video, subset, item["annotations"], source, item["file"], item["duration"], stride, offset)
        for video, subset, item, source in pairs
    ]
    if fit_to_duration:
        videos = [dataclasses.replace(v, snippet_stride_sec=None) for v in videos]  # set per video once T is known
    return LayoutContents(class_names=class_names, videos=videos, left_out=left_out)


def load_class_list(path: str) -> list:
    """A class list from a JSON list or a text file with one name per line."""
    if path.endswith(".json"):
        return read_class_list(path)
    return read_lines(path)

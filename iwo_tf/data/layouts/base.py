"""What every layout reader returns, and the feature-file helpers they share."""
from __future__ import annotations

import dataclasses
import io
import math
import os
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from iwo_tf.data import validation
from iwo_tf.data.safe_npy import load_npy, open_regular_file
from iwo_tf.data.validation import BadVideoError
from iwo_tf.errors import UserInputError

# Each layout's subset names -> the canonical ones. A name mapped to None (e.g. ActivityNet's
# unlabelled `testing`) is not part of a weakly supervised dataset and is left out on purpose.
SUBSET_NAMES = {
    "train": "train",
    "training": "train",
    "validation": "train",  # THUMOS14: the validation set is the WTAL training set
    "val": "train",
    "test": "test",
    "testing": "test",
}


def canonical_subset(name: str, mapping: Optional[Dict[str, Optional[str]]] = None) -> Optional[str]:
    """Maps a layout's subset name (any case) to `train` / `test`.

    Raises:
        ValueError: an unknown name.
    """
    table = mapping if mapping is not None else SUBSET_NAMES
    key = str(name).strip().lower()
    if key not in table:
        raise ValueError(f"unknown subset name {name!r} (known: {sorted(table)})")
    return table[key]


@dataclasses.dataclass
class FeatureSource:
    """Where a video's features are and how to load them as `[T, D]`.

    Args:
        path: the file (or files, joined with ' + ') named in error messages.
        load: returns the array; any exception is reported as unreadable features.
    """

    path: str
    load: Callable[[], np.ndarray]


@dataclasses.dataclass
class SourceVideo:
    """One annotated video that has features.

    Args:
        video_id: the id written to the records and the ground truth.
        subset: `train` or `test`.
        annotations: `(label name, start sec, end sec)` per ground-truth instance.
        features: where the features are.
        annotation_path: the file the annotations came from (for messages).
        duration: seconds; None means `offset + T * stride`.
        snippet_stride_sec: seconds between snippets.
        snippet_offset_sec: start time of snippet 0.
        problem: a problem found while reading the layout (e.g. fps 0); the video is then bad and is
            refused or skipped by `--on_bad_video` like any other bad video.
        timing_path: the file the duration / frame rate came from, when not `annotation_path`.
    """

    video_id: str
    subset: str
    annotations: List[tuple]
    features: FeatureSource
    annotation_path: str
    duration: Optional[float] = None
    snippet_stride_sec: float = 0.64
    snippet_offset_sec: float = 0.0
    problem: Optional[BadVideoError] = None
    timing_path: Optional[str] = None


@dataclasses.dataclass
class LayoutContents:
    """A layout as read: classes, videos ready to convert, and videos left out with the reason.

    Args:
        class_names: index -> name.
        videos: annotated videos that have features.
        left_out: one BadVideoError per video found on one side only (annotations without features,
            features without annotations) or excluded by an option; each paired with its subset.
        notes: facts about the input worth reporting (e.g. quirks applied).
    """

    class_names: List[str]
    videos: List[SourceVideo]
    left_out: List[tuple] = dataclasses.field(default_factory=list)  # (BadVideoError, subset or None)
    notes: List[str] = dataclasses.field(default_factory=list)


def _load_npy(path: str) -> np.ndarray:
    return load_npy(path, allow_objects=False)


def npy_source(path: str) -> FeatureSource:
    return FeatureSource(path, lambda: _load_npy(path))


def stream_pair_source(rgb_path: str, flow_path: str, video_id: str) -> FeatureSource:
    """RGB and flow in separate files, concatenated along features (RGB first)."""

    def load():
        rgb, flow = _load_npy(rgb_path), _load_npy(flow_path)
        if rgb.ndim != 2 or flow.ndim != 2:
            raise BadVideoError(validation.WRONG_DIMENSION, video_id, f"{rgb_path} + {flow_path}",
                                f"streams must be 2-D, got rgb {rgb.shape} and flow {flow.shape}")
        if rgb.shape[0] != flow.shape[0]:
            raise BadVideoError(validation.UNREADABLE_FEATURES, video_id, f"{rgb_path} + {flow_path}",
                                f"rgb has {rgb.shape[0]} snippets but flow has {flow.shape[0]}")
        return np.concatenate([rgb, flow], axis=1)

    return FeatureSource(f"{rgb_path} + {flow_path}", load)


def per_video_features(features_dir: str) -> Dict[str, FeatureSource]:
    """`{stem: FeatureSource}` for a folder of per-video features.

    Either `<features_dir>/<video>.npy` holding both streams, or `<features_dir>/rgb/<video>.npy` and
    `<features_dir>/flow/<video>.npy` (a video with only one of the two is reported when loaded).

    Raises:
        FileNotFoundError: the folder does not exist.
    """
    if not os.path.isdir(features_dir):
        raise FileNotFoundError(f"features folder {features_dir} does not exist")
    rgb_dir, flow_dir = os.path.join(features_dir, "rgb"), os.path.join(features_dir, "flow")
    stems = lambda d: {f[:-4] for f in os.listdir(d) if f.endswith(".npy")}  # noqa: E731
    if os.path.isdir(rgb_dir) and os.path.isdir(flow_dir):
        rgb, flow = stems(rgb_dir), stems(flow_dir)
        sources = {}
        for video in sorted(rgb | flow):
            rgb_path, flow_path = os.path.join(rgb_dir, f"{video}.npy"), os.path.join(flow_dir, f"{video}.npy")
            if video in rgb and video in flow:
                sources[video] = stream_pair_source(rgb_path, flow_path, video)
            else:
                missing = flow_path if video in rgb else rgb_path
                sources[video] = FeatureSource(missing, _raiser(validation.UNREADABLE_FEATURES, video, missing, "one stream's file is missing"))
        return sources
    return {video: npy_source(os.path.join(features_dir, f"{video}.npy")) for video in sorted(stems(features_dir))}


def _raiser(reason, video_id, path, problem):
    def load():
        raise BadVideoError(reason, video_id, path, problem)

    return load


def match_annotations_and_features(
    annotated: Dict[str, tuple],
    features: Dict[str, FeatureSource],
    *,
    annotation_path: str,
    features_location: str,
    feature_key: Callable[[str], str] = lambda video: video,
):
    """Pairs annotated videos with feature files and reports the ones found on one side only.

    Args:
        annotated: video id -> (subset, payload) for every annotated video to convert.
        features: feature key -> source.
        annotation_path: named in messages about annotated videos without features.
        features_location: named in messages about features without annotations.
        feature_key: maps a video id to its key in `features` (e.g. adds a `v_` prefix).

    Returns:
        `(pairs, left_out)`: `pairs` is a list of `(video_id, subset, payload, FeatureSource)`,
        `left_out` a list of `(BadVideoError, subset)`.
    """
    pairs, left_out, used = [], [], set()
    for video in sorted(annotated):
        subset, payload = annotated[video]
        key = feature_key(video)
        if key in features:
            pairs.append((video, subset, payload, features[key]))
            used.add(key)
        else:
            left_out.append((BadVideoError(validation.MISSING_FEATURES, video, annotation_path,
                                           f"annotated, but there is no feature file for it in {features_location}"), subset))
    for key in sorted(set(features) - used):
        left_out.append((BadVideoError(validation.MISSING_ANNOTATION, key, features[key].path,
                                       f"has features, but no annotations in {annotation_path}"), None))
    return pairs, left_out


def open_input_text(path: str, newline: Optional[str] = None):
    """Opens an input text file (annotations, lists) for reading; a FIFO or device is refused, not waited on.

    Raises:
        FileNotFoundError: no such file. UnsafeNpyError (a UserInputError): not a regular file.
    """
    return io.TextIOWrapper(open_regular_file(path, "a regular file"), encoding="utf-8", newline=newline)


def read_lines(path: str) -> List[str]:
    with open_input_text(path) as f:
        return [line.strip() for line in f if line.strip()]


def snippet_timing(snippet_frames: float, feature_fps: float) -> tuple:
    """`(stride_sec, offset_sec)` for back-to-back snippets of `snippet_frames` frames at `feature_fps`."""
    if not (math.isfinite(feature_fps) and math.isfinite(snippet_frames) and feature_fps > 0 and snippet_frames > 0):
        raise UserInputError(f"--snippet_frames ({snippet_frames}) and --feature_fps ({feature_fps}) must be positive and finite")
    return snippet_frames / feature_fps, 0.0


def sorted_labels(annotations: Sequence[tuple]) -> List[str]:
    return sorted({label for label, _, _ in annotations})

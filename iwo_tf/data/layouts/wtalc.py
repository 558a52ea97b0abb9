"""W-TALC / STPN layout: one pickled joint-feature npy plus annotation npys (THUMOS14-reduced).

Files (docs/DATA.md, layout 1): `<Dataset>-<Feature>-JOINTFeatures.npy` (object array, row i = video i's
`[T, 2048]`, RGB first), and beside it (or in `annotations_dir`) `videoname.npy`, `subset.npy`
(`validation` / `test`), `classlist.npy`, `duration.npy`, `segments.npy`, `labels.npy`. Snippets are
16 frames at 25 fps (0.64 s) unless told otherwise.

The object arrays are read by `iwo_tf.data.safe_npy.load_npy`, which builds numpy arrays, lists and
strings from their pickle streams and refuses anything else: no code in these files is ever run.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from iwo_tf.data import validation
from iwo_tf.data.layouts.base import FeatureSource, LayoutContents, SourceVideo, canonical_subset, snippet_timing
from iwo_tf.data.safe_npy import load_npy
from iwo_tf.data.validation import BadVideoError


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read(features_npy: str, annotations_dir: Optional[str] = None, *, snippet_frames: float = 16, feature_fps: float = 25) -> LayoutContents:
    """Reads the W-TALC layout.

    Args:
        features_npy: the joint feature file.
        annotations_dir: folder of the annotation npys; None = the feature file's folder.
        snippet_frames: frames per snippet.
        feature_fps: frame rate the features were extracted at.

    Raises:
        FileNotFoundError: a file is missing. ValueError: the files disagree on the number of videos.
    """
    annotations_dir = annotations_dir or os.path.dirname(os.path.abspath(features_npy))
    load = lambda name: load_npy(os.path.join(annotations_dir, f"{name}.npy"), allow_objects=True)  # noqa: E731
    names = [_text(v) for v in load("videoname")]
    subsets = [_text(v) for v in load("subset")]
    class_names = [_text(v) for v in load("classlist")]
    durations = np.asarray(load("duration"), np.float64).reshape(-1)
    segments, labels = load("segments"), load("labels")
    annotation_path = os.path.join(annotations_dir, "segments.npy")
    sizes = {"videoname": len(names), "subset": len(subsets), "duration": len(durations), "segments": len(segments), "labels": len(labels)}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{annotations_dir}: the annotation npys disagree on the number of videos: {sizes}")
    joint = load_npy(features_npy, allow_objects=True)
    if len(joint) != len(names):
        raise ValueError(f"{features_npy}: {len(joint)} feature rows but {len(names)} videos in {annotations_dir}/videoname.npy")
    stride, offset = snippet_timing(snippet_frames, feature_fps)
    videos = []
    for i, video in enumerate(names):
        if len(segments[i]) != len(labels[i]):
            raise BadVideoError(validation.BAD_ANNOTATION, video, annotation_path,
                                f"{len(segments[i])} segments but {len(labels[i])} labels in labels.npy")
        annotations = [(_text(label), float(s), float(e)) for (s, e), label in zip(segments[i], labels[i])]
        row = joint[i]
        videos.append(
            SourceVideo(
                video_id=video,
                subset=canonical_subset(subsets[i]),
                annotations=annotations,
                features=FeatureSource(f"{features_npy}[{i}]", lambda row=row: np.asarray(row if row is not None else np.zeros((0, 0)))),
                annotation_path=annotation_path,
                duration=float(durations[i]),
                snippet_stride_sec=stride,
                snippet_offset_sec=offset,
            )
        )
    return LayoutContents(class_names=class_names, videos=videos)

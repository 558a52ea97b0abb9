"""Official THUMOS14 annotations: per-class `<Class>_val.txt` / `<Class>_test.txt`, features per video.

Annotation lines are `video_name start end` (seconds). Files are found anywhere under
`annotations_dir` (e.g. its `annotations_val/` and `annotations_test/`); `_val` files are the
training subset, `_test` files the test subset. `Ambiguous_*.txt` are not ground truth (see
`thumos14_quirks`). Features: `<features_dir>/<video>.npy` or `<features_dir>/{rgb,flow}/<video>.npy`,
16-frame snippets at 25 fps unless told otherwise; durations from `video_info_json` when given.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from iwo_tf.data import validation
from iwo_tf.data.layouts.base import (
    LayoutContents,
    SourceVideo,
    match_annotations_and_features,
    open_input_text,
    per_video_features,
    snippet_timing,
)
from iwo_tf.data.layouts.input_json import read_durations
from iwo_tf.data.validation import BadVideoError

_CLASS_FILE = re.compile(r"^(?P<label>.+)_(?P<split>val|test)\.txt$")
AMBIGUOUS = "Ambiguous"


def read(
    annotations_dir: str,
    features_dir: str,
    *,
    include_ambiguous: bool = False,
    video_info_json: Optional[str] = None,
    snippet_frames: float = 16,
    feature_fps: float = 25,
) -> LayoutContents:
    """Reads the official per-class annotation files.

    Args:
        annotations_dir: searched recursively for `<Class>_{val,test}.txt`.
        features_dir: per-video features.
        include_ambiguous: keep Ambiguous segments as an extra last class "Ambiguous".
        video_info_json: optional `{video: {"duration": s}}`.
        snippet_frames: frames per snippet.
        feature_fps: frame rate the features were extracted at.
    """
    files = []
    for root, _, names in os.walk(annotations_dir):
        for name in sorted(names):
            match = _CLASS_FILE.match(name)
            if match:
                files.append((match.group("label"), "train" if match.group("split") == "val" else "test", os.path.join(root, name)))
    if not files:
        raise FileNotFoundError(f"no <Class>_val.txt / <Class>_test.txt files under {annotations_dir}")
    class_names = sorted({label for label, _, _ in files if label != AMBIGUOUS})
    if include_ambiguous:
        class_names.append(AMBIGUOUS)
    annotated, sources = {}, {}
    for label, subset, path in sorted(files):
        if label == AMBIGUOUS and not include_ambiguous:
            continue
        with open_input_text(path) as f:
            for number, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 3:
                    raise BadVideoError(validation.BAD_ANNOTATION, fields[0], f"{path}:{number}", f"expected 'video start end', got {line.strip()!r}")
                video = fields[0]
                try:
                    start, end = float(fields[1]), float(fields[2])
                except ValueError as error:
                    raise BadVideoError(validation.BAD_ANNOTATION, video, f"{path}:{number}", f"times are not numbers: {line.strip()!r}") from error
                previous, annotations = annotated.setdefault(video, (subset, []))
                if previous != subset:
                    raise BadVideoError(validation.BAD_ANNOTATION, video, path, f"annotated in both the {previous} and the {subset} files")
                annotations.append((label, start, end))
                sources.setdefault(video, path)
    durations = read_durations(video_info_json) if video_info_json else {}
    pairs, left_out = match_annotations_and_features(
        annotated, per_video_features(features_dir), annotation_path=annotations_dir, features_location=features_dir
    )
    stride, offset = snippet_timing(snippet_frames, feature_fps)
    videos = [
        SourceVideo(video, subset, sorted(annotations, key=lambda a: (a[1], a[2], a[0])), source, sources[video], durations.get(video),
                    stride, offset, timing_path=video_info_json)
        for video, subset, annotations, source in pairs
    ]
    return LayoutContents(class_names=class_names, videos=videos, left_out=left_out)

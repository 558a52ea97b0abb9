"""Writes a synthetic dataset as a converted dataset directory, plus the snippet part labels.

Beside the usual files (shards, classes.txt, ground_truth.json, dataset.json) the directory holds
`snippet_parts.json`: for every video its snippet count and the `[start, end)` snippet runs of its
strong (climax) and weak parts; every other snippet is background. `iwo_tf.diagnose` reads it.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from iwo_tf.data.dataset_writer import DatasetWriter, shard_count
from iwo_tf.data.schema import VideoRecord
from iwo_tf.data.synthetic import directions as feature_directions
from iwo_tf.data.synthetic import feature_model, layouts
from iwo_tf.data.synthetic.feature_model import STRONG, WEAK, SyntheticSpec
from iwo_tf.errors import UserInputError
from iwo_tf.io import read_json, write_json_atomic

PARTS_JSON = "snippet_parts.json"
PARTS_FORMAT = "iwo-tf-snippet-parts 1"


def class_names(num_classes: int) -> list:
    return [f"SyntheticAction{c:02d}" for c in range(num_classes)]


def _runs(mask: np.ndarray) -> List[List[int]]:
    """`[start, end)` runs of True in a boolean vector."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [[int(s), int(e)] for s, e in zip(edges[::2], edges[1::2])]


def parts_entry(parts: np.ndarray) -> dict:
    """One video's `snippet_parts.json` entry from its per-snippet labels."""
    return {"num_snippets": int(len(parts)), "strong": _runs(parts == STRONG), "weak": _runs(parts == WEAK)}


def load_snippet_parts(data_dir: str) -> Optional[dict]:
    """`{video_id: [T] int8 part labels}` from a dataset's `snippet_parts.json`, or None without one.

    Raises:
        UserInputError: the file exists but is not a snippet-parts file.
    """
    path = os.path.join(data_dir, PARTS_JSON)
    if not os.path.exists(path):
        return None
    document = read_json(path)
    if not isinstance(document, dict) or document.get("format") != PARTS_FORMAT:
        raise UserInputError(f"{path}: not a snippet-parts file (expected format {PARTS_FORMAT!r})")
    labels = {}
    for video, entry in document["videos"].items():
        parts = np.zeros(int(entry["num_snippets"]), np.int8)
        for name, value in (("weak", WEAK), ("strong", STRONG)):
            for start, end in entry[name]:
                if not 0 <= start < end <= len(parts):
                    raise UserInputError(f"{path}: video {video!r}: {name} run {[start, end]} is outside its {len(parts)} snippets")
                parts[start:end] = value
        labels[video] = parts
    return labels


def _parse_dims(stream_dims) -> Tuple[int, ...]:
    dims = tuple(int(d) for d in stream_dims)
    if not dims or min(dims) < 2:
        raise UserInputError(f"stream_dims={list(stream_dims)}: every stream needs at least 2 dimensions")
    return dims


_AMPLITUDES = ("strong_amplitude", "weak_amplitude", "salience_amplitude", "actionness_amplitude", "context_amplitude",
               "scene_amplitude", "noise_std")


def _check_values(spec: SyntheticSpec, seed, scale) -> None:
    """One-line errors for values the generator cannot use (they would give NaN features or a numpy error)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserInputError(f"--seed={seed}: must be an integer >= 0")
    for name in _AMPLITUDES:
        value = getattr(spec, name)
        if not (math.isfinite(value) and value >= 0):
            raise UserInputError(f"--{name}={value}: must be finite and >= 0")
    if not (math.isfinite(spec.strong_fraction) and 0 < spec.strong_fraction <= 1):
        raise UserInputError(f"--strong_fraction={spec.strong_fraction}: must be in (0, 1]")
    if not (math.isfinite(scale) and 0 < scale <= 1):
        raise UserInputError(f"--scale={scale}: must be in (0, 1]")


def generate_synthetic_dataset(
    output_dir: str,
    *,
    seed: int = 0,
    spec: Optional[SyntheticSpec] = None,
    overwrite: bool = False,
    preset: Optional[str] = None,
    layout_from: Optional[str] = None,
    snippet_rate: Optional[float] = None,
    scale: float = 1.0,
    **overrides,
) -> str:
    """Writes a synthetic dataset, identical for identical arguments.

    Args:
        output_dir: the directory to create.
        seed: seeds the numpy Generator that draws everything.
        spec: the feature model and (embedded layout) sizes; None uses the embedded default.
        overwrite: replace an existing directory.
        preset: `thumos14` or `activitynet13`: that dataset's measured scale and layout statistics
            (`layouts.PRESETS`); its class count replaces `spec.num_classes`.
        layout_from: an ActivityNet-format ground-truth JSON whose videos, subsets, durations and
            instances are used as they are (classes from its labels).
        snippet_rate: snippets per second for `preset` / `layout_from` (default 25/16, I3D at 25 fps).
        scale: with `preset`, the share of each subset to generate (1 = full scale).
        **overrides: `SyntheticSpec` fields to change, e.g. `num_train=20`, `weak_amplitude=0.5`.

    Returns:
        `output_dir`.
    """
    spec = dataclasses.replace(spec or SyntheticSpec(), **overrides)
    spec = dataclasses.replace(spec, stream_dims=_parse_dims(spec.stream_dims))
    if preset is not None and layout_from is not None:
        raise UserInputError("--preset and --layout_from are alternatives: give one")
    _check_values(spec, seed, scale)
    stats = layouts.check_preset(preset)
    rate = float(snippet_rate) if snippet_rate else (stats.snippet_rate if stats else 25.0 / 16.0)
    if not (math.isfinite(rate) and rate > 0):
        raise UserInputError(f"--snippet_rate={snippet_rate}: must be positive and finite")
    rng = np.random.default_rng(seed)
    if layout_from is not None:
        names, videos, left_out = layouts.layouts_from_ground_truth(layout_from, rate)
        spec = dataclasses.replace(spec, num_classes=len(names), snippet_stride_sec=1.0 / rate)
    elif stats is not None:
        spec = dataclasses.replace(spec, num_classes=stats.num_classes, snippet_stride_sec=1.0 / rate)
        names, left_out = class_names(stats.num_classes), {}
        videos = layouts.preset_layouts(rng, stats, rate, scale)
    else:
        names, left_out = class_names(spec.num_classes), {}
        videos = layouts.embedded_layouts(rng, spec)
    directions = feature_directions.make_directions(rng, spec.num_classes, spec.stream_dims)
    dims = list(spec.stream_dims)
    counts = {s: sum(v.subset == s for v in videos) for s in ("train", "test")}
    source = {
        "generator": "iwo_tf.data.synthetic", "seed": int(seed), "preset": preset, "layout_from": layout_from,
        "snippet_rate": rate if (preset or layout_from) else None, "scale": scale if preset else None,
        "left_out": left_out, "spec": {**dataclasses.asdict(spec), "stream_dims": dims},
    }
    shards = {subset: shard_count(n, spec.shards_per_subset) for subset, n in counts.items() if n > 0}
    parts_document = {"format": PARTS_FORMAT, "labels": dict(feature_model.PART_NAMES), "videos": {}}
    with DatasetWriter(output_dir, names, dims, shards, overwrite=overwrite, source=source) as writer:
        for video in videos:
            features, parts = feature_model.synthesize_features(rng, video.num_snippets, video.instances, video.classes, directions, spec)
            writer.add(_record(video, features, spec.snippet_stride_sec, dims))
            parts_document["videos"][video.video_id] = parts_entry(parts)
        write_json_atomic(os.path.join(writer.work_dir, PARTS_JSON), parts_document, indent=None)
    return output_dir


def _record(video: layouts.VideoLayout, features: np.ndarray, stride: float, stream_dims: List[int]) -> VideoRecord:
    return VideoRecord(
        video_id=video.video_id,
        subset=video.subset,
        labels=video.classes,
        duration=float(video.duration),
        snippet_stride_sec=float(stride),
        snippet_offset_sec=0.0,
        features=features,
        stream_dims=list(stream_dims),
        gt_segments=[list(s) for s in video.segments_sec],
        gt_labels=[c for _, _, c in video.instances],
    )


def parse_stream_dims(text: str) -> Sequence[int]:
    """`"64,64"` -> `(64, 64)`; a clear error otherwise."""
    try:
        return _parse_dims(int(x) for x in str(text).split(","))
    except ValueError:
        raise UserInputError(f"--stream_dims={text!r}: expected comma-separated integers such as 64,64") from None

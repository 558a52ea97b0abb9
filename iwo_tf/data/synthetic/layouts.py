"""Where the instances of synthetic videos lie: the embedded layout, the dataset presets
(`iwo_tf.data.synthetic.presets`), or a real ground-truth file (`--layout_from`)."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from iwo_tf.data.synthetic.presets import PRESETS, PresetStatistics
from iwo_tf.errors import UserInputError


@dataclasses.dataclass(frozen=True)
class VideoLayout:
    """One video's timing and ground truth, before features are drawn.

    Args:
        video_id: unique id.
        subset: `train` or `test`.
        num_snippets: T.
        duration: seconds.
        instances: `(start_snippet, end_snippet, class)`, end exclusive, non-empty.
        segments_sec: the ground-truth `[start, end]` in seconds of each instance.
    """

    video_id: str
    subset: str
    num_snippets: int
    duration: float
    instances: Tuple[Tuple[int, int, int], ...]
    segments_sec: Tuple[Tuple[float, float], ...]

    @property
    def classes(self) -> List[int]:
        return sorted({c for _, _, c in self.instances})


_PERCENTILES = np.linspace(0.0, 1.0, 21)


def _draw(rng: np.random.Generator, table: Sequence[float], log: bool, size=None):
    """Inverse-CDF sample from a 5%-step quantile table (log-linear or linear interpolation)."""
    values = np.log(np.asarray(table, float)) if log else np.asarray(table, float)
    drawn = np.interp(rng.random(size), _PERCENTILES, values)
    return np.exp(drawn) if log else drawn


def _to_snippets(start_sec: float, end_sec: float, rate: float, num_snippets: int) -> Tuple[int, int]:
    start = min(num_snippets - 1, max(0, int(math.floor(start_sec * rate))))
    end = min(num_snippets, max(start + 1, int(math.ceil(end_sec * rate))))
    return start, end


def _place(rng: np.random.Generator, duration: float, lengths: np.ndarray) -> List[Tuple[float, float]]:
    """Non-overlapping intervals of the given lengths (seconds) in random order with random gaps."""
    gaps = rng.dirichlet(np.ones(len(lengths) + 1)) * max(0.0, duration - float(lengths.sum()))
    intervals, cursor = [], 0.0
    for length, gap in zip(lengths, gaps[:-1]):
        cursor += gap
        intervals.append((cursor, min(duration, cursor + float(length))))
        cursor += float(length)
    return intervals


def _assign_classes(rng: np.random.Generator, count: int, classes: np.ndarray) -> List[int]:
    """A class per instance; every class of the video owns at least one instance."""
    assigned = list(classes) + list(rng.choice(classes, size=max(0, count - len(classes))))
    rng.shuffle(assigned)
    return [int(c) for c in assigned]


def sample_preset_video(rng: np.random.Generator, stats: PresetStatistics, video_id: str, subset: str, snippet_rate: float) -> VideoLayout:
    """One video drawn from a preset's statistics."""
    duration = float(_draw(rng, stats.duration_sec_quantiles, log=True))
    if stats.count_quantiles is not None:
        count = max(1, int(round(float(_draw(rng, stats.count_quantiles, log=True)) * duration)))
    else:
        probabilities = np.asarray(stats.count_probabilities) / sum(stats.count_probabilities)
        count = 1 + int(rng.choice(len(probabilities), p=probabilities))
    if not stats.relative_lengths:
        lengths = _draw(rng, stats.length_quantiles, log=True, size=count)
    elif count == 1:
        lengths = _draw(rng, stats.length_quantiles, log=True, size=1) * duration
    else:
        coverage = float(_draw(rng, stats.multi_coverage_quantiles, log=True))
        lengths = rng.dirichlet(np.full(count, 2.0)) * coverage * duration
    # Too much action for the video: a density-drawn count (THUMOS14) drops instances, a per-video
    # count (ActivityNet: the count is what matters) shrinks them all proportionally.
    while stats.count_quantiles is not None and count > 1 and lengths.sum() > stats.max_coverage * duration:
        count -= 1
        lengths = lengths[:count]
    if lengths.sum() > stats.max_coverage * duration:
        lengths = lengths * (stats.max_coverage * duration / lengths.sum())
    num_labels = 1 + int(rng.choice(3, p=np.asarray(stats.labels_per_video_probabilities) / sum(stats.labels_per_video_probabilities)))
    classes = np.sort(rng.choice(stats.num_classes, size=min(num_labels, count), replace=False))
    num_snippets = max(1, int(round(duration * snippet_rate)))
    segments = _place(rng, duration, lengths)
    instances = [(*_to_snippets(s, e, snippet_rate, num_snippets), c) for (s, e), c in zip(segments, _assign_classes(rng, count, classes))]
    return VideoLayout(video_id, subset, num_snippets, duration, tuple(instances), tuple((round(s, 3), round(e, 3)) for s, e in segments))


def preset_layouts(rng: np.random.Generator, stats: PresetStatistics, snippet_rate: float, scale: float = 1.0) -> List[VideoLayout]:
    """Every video of a preset (`scale` < 1 keeps that share of each subset, for quick looks)."""
    videos = []
    for subset, count in stats.num_videos.items():
        for i in range(max(1, int(round(count * scale)))):
            videos.append(sample_preset_video(rng, stats, f"{stats.name}_{subset}_{i:05d}", subset, snippet_rate))
    return videos


# Subset names of ActivityNet-format files -> train / test; None: unlabelled, not part of the dataset.
_SUBSETS = {"train": "train", "training": "train", "validation": "train", "val": "train", "test": "test", "testing": "test"}
_ACTIVITYNET_SUBSETS = {"training": "train", "train": "train", "validation": "test", "val": "test", "testing": None, "test": None}


def layouts_from_ground_truth(path: str, snippet_rate: float) -> Tuple[List[str], List[VideoLayout], Dict[str, int]]:
    """Lays synthetic videos on a real ActivityNet-format ground-truth file.

    Subsets: THUMOS14-style files (`Validation` / `Test`, e.g. ActionFormer's thumos14.json) train on
    Validation and test on Test; ActivityNet-style files (`training` / `validation` / `testing`) train
    on training and test on validation, and leave the unlabelled `testing` videos out (counted).

    Args:
        path: the JSON file (`{"database": {video: {subset, duration, annotations: [{label, segment}]}}}`).
        snippet_rate: snippets per second.

    Returns:
        `(class_names, layouts, left_out)`: classes sorted by name, one layout per labelled video, and
        per reason the number of videos (or instances) left out.

    Raises:
        UserInputError: the file cannot be read or a video is malformed (one line naming the video).
    """
    try:
        with open(path) as f:
            database = json.load(f)["database"]
        items = sorted(database.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserInputError(f"{path}: not an ActivityNet-format ground-truth file ({error!r})") from None
    names = {str(item.get("subset", "")).strip().lower() for _, item in items if isinstance(item, dict)}
    table = _ACTIVITYNET_SUBSETS if "training" in names else _SUBSETS
    parsed, labels = [], set()
    left_out = {}
    for video, item in items:
        try:
            subset = table[str(item["subset"]).strip().lower()]
            duration = float(item["duration"])
            annotations = [(str(a["label"]), float(a["segment"][0]), float(a["segment"][1])) for a in item.get("annotations", [])]
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise UserInputError(f"{path}: video {video!r}: malformed entry ({error!r})") from None
        if subset is None:
            left_out["unlabelled subset"] = left_out.get("unlabelled subset", 0) + 1
            continue
        if not (duration > 0 and math.isfinite(duration)):
            raise UserInputError(f"{path}: video {video!r}: duration {duration!r} is not a positive number")
        bad = [a for a in annotations if not 0 <= a[1] < a[2]]
        if bad:
            raise UserInputError(f"{path}: video {video!r}: segment {list(bad[0][1:])} is empty or negative")
        outside = [a for a in annotations if a[1] >= duration]
        if outside:  # e.g. THUMOS14's video_test_0000270: annotated past its end (counted, not silent)
            left_out["instances starting after the video's end"] = left_out.get("instances starting after the video's end", 0) + len(outside)
            annotations = [a for a in annotations if a[1] < duration]
        if not annotations:
            left_out["no annotations"] = left_out.get("no annotations", 0) + 1
            continue
        labels.update(a[0] for a in annotations)
        parsed.append((video, subset, duration, annotations))
    if not parsed:
        raise UserInputError(f"{path}: no annotated training or test videos")
    class_names = sorted(labels)
    index = {name: i for i, name in enumerate(class_names)}
    layouts = []
    for video, subset, duration, annotations in parsed:
        num_snippets = max(1, int(round(duration * snippet_rate)))
        instances = tuple((*_to_snippets(s, min(e, duration), snippet_rate, num_snippets), index[label]) for label, s, e in annotations)
        segments = tuple((s, min(e, duration)) for _, s, e in annotations)
        layouts.append(VideoLayout(video, subset, num_snippets, duration, instances, segments))
    return class_names, layouts, left_out


def embedded_layouts(rng: np.random.Generator, spec) -> List[VideoLayout]:
    """The embedded default dataset's layout (`SyntheticSpec` sizes; see `feature_model.SyntheticSpec`)."""
    videos = []
    for subset, count in (("train", spec.num_train), ("test", spec.num_test)):
        for i in range(count):
            videos.append(_embedded_video(rng, f"synthetic_{subset}_{i:05d}", subset, spec))
    return videos


def _embedded_video(rng: np.random.Generator, video_id: str, subset: str, spec) -> VideoLayout:
    num_snippets = int(np.round(np.exp(rng.uniform(np.log(spec.min_snippets), np.log(spec.max_snippets)))))
    num_labels = 2 if rng.random() < spec.multi_label_fraction and spec.num_classes > 1 else 1
    classes = np.sort(rng.choice(spec.num_classes, size=num_labels, replace=False))
    wanted = max(1, int(rng.poisson(num_snippets / spec.snippets_per_instance)))
    lengths = np.clip(np.round(rng.lognormal(np.log(spec.median_instance_snippets), 0.7, size=wanted)), 3, 80).astype(int)
    # At most 60% of a video is action, at least 2 background snippets between instances.
    while len(lengths) > 1 and lengths.sum() + 2 * (len(lengths) + 1) > 0.6 * num_snippets:
        lengths = lengths[:-1]
    background = num_snippets - int(lengths.sum())
    gaps = np.floor(rng.dirichlet(np.ones(len(lengths) + 1)) * (background - 2 * (len(lengths) + 1))).astype(int) + 2
    assigned = _assign_classes(rng, len(lengths), classes) if len(lengths) >= len(classes) else [int(classes[0])] * len(lengths)
    instances, cursor = [], 0
    for length, gap, c in zip(lengths, gaps[:-1], assigned):
        cursor += int(gap)
        instances.append((cursor, cursor + int(length), c))
        cursor += int(length)
    stride = spec.snippet_stride_sec
    segments = tuple((round(s * stride, 3), round(e * stride, 3)) for s, e, _ in instances)
    return VideoLayout(video_id, subset, num_snippets, num_snippets * stride, tuple(instances), segments)


def check_preset(name: Optional[str]) -> Optional[PresetStatistics]:
    if name is None:
        return None
    if name not in PRESETS:
        raise UserInputError(f"--preset={name!r}: expected one of {', '.join(PRESETS)}")
    return PRESETS[name]

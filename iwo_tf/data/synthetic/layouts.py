"""Where the instances of synthetic videos lie: the embedded layout, the dataset presets, or a real
ground-truth file (`--layout_from`).

Preset statistics were measured from the public annotation files (THUMOS14: ActionFormer's
thumos14.json, 200 validation + 212 test videos, 6,365 instances; ActivityNet1.3: the TSP ground-truth
CSVs, 10,024 training + 4,926 validation videos, 23,064 instances). Distributions are inverse-CDF
tables at the 0, 5, ..., 100th percentiles (interpolated log-linearly), or probability tables for
small counts, pooled over both subsets. Measured: video durations, instances per second
(THUMOS14) or per video (ActivityNet, P(n) for n = 1..10, the 0.2% with more left out), instance
lengths in seconds (THUMOS14) or relative to the video (ActivityNet), and distinct classes per video.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

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


@dataclasses.dataclass(frozen=True)
class PresetStatistics:
    """A real dataset's layout statistics (measured; see the module docstring).

    Args:
        name: preset name.
        num_classes: C.
        num_videos: videos per subset (`train`, `test`).
        duration_sec_quantiles: video duration, 0..100th percentile in 5% steps.
        count_quantiles: instances per second of video, same percentiles; or None to draw the count
            per video from `count_probabilities`.
        count_probabilities: P(1, 2, ... instances in a video) (used when `count_quantiles` is None).
        length_quantiles: instance length in seconds; or, with `relative_lengths`, the length of a
            video's only instance relative to the video.
        relative_lengths: how to read `length_quantiles`.
        multi_coverage_quantiles: with `relative_lengths`, the share of a video with several instances
            that they cover together (split between them by a Dirichlet(2, ..., 2) draw).
        labels_per_video_probabilities: P(1, 2, 3 distinct classes in a video).
        max_coverage: at most this share of a video is action (see `sample_preset_video`).
        snippet_rate: default snippets per second (I3D: 16 frames at 25 fps).
    """

    name: str
    num_classes: int
    num_videos: Dict[str, int]
    duration_sec_quantiles: Tuple[float, ...]
    count_quantiles: Optional[Tuple[float, ...]]
    count_probabilities: Optional[Tuple[float, ...]]
    length_quantiles: Tuple[float, ...]
    relative_lengths: bool
    multi_coverage_quantiles: Optional[Tuple[float, ...]]
    labels_per_video_probabilities: Tuple[float, float, float]
    max_coverage: float = 0.95
    snippet_rate: float = 25.0 / 16.0


THUMOS14 = PresetStatistics(
    name="thumos14",
    num_classes=20,
    num_videos={"train": 200, "test": 212},
    duration_sec_quantiles=(8.93, 31.21, 42.56, 61.38, 71.82, 88.8, 103, 116.1, 128.6, 138.4, 154.6, 170.5,
                            183.9, 197, 212.5, 228.7, 253.9, 308.3, 430.4, 704.1, 1673),
    count_quantiles=(0.003096, 0.0122, 0.01781, 0.02287, 0.02849, 0.03294, 0.03683, 0.04169, 0.04651, 0.05078,
                     0.0586, 0.06243, 0.07005, 0.07977, 0.09339, 0.1053, 0.115, 0.1346, 0.1704, 0.2341, 0.5967),
    count_probabilities=None,
    length_quantiles=(0.2, 0.8, 1, 1.2, 1.4, 1.6, 1.9, 2.1, 2.4, 2.7, 3, 3.5, 4, 4.6, 5.3, 5.9, 6.5, 7.5, 8.5,
                      10.7, 118.1),
    relative_lengths=False,
    multi_coverage_quantiles=None,
    labels_per_video_probabilities=(0.8519, 0.1456, 0.0024),
)

ACTIVITYNET13 = PresetStatistics(
    name="activitynet13",
    num_classes=200,
    num_videos={"train": 10024, "test": 4926},
    duration_sec_quantiles=(1.1, 17.85, 29.77, 39.5, 50.93, 61, 70.2, 80.5, 91.43, 102.8, 114.7, 125.5, 136.9,
                            149, 161.2, 173.4, 185.3, 197.6, 211.1, 224.5, 755),
    count_quantiles=None,
    count_probabilities=(0.7539, 0.1308, 0.04776, 0.02803, 0.01472, 0.00903, 0.005217, 0.003813, 0.002074, 0.001739),
    length_quantiles=(0.001, 0.1313, 0.2559, 0.3628, 0.4651, 0.5453, 0.6089, 0.6636, 0.7122, 0.757, 0.7947,
                      0.8287, 0.8597, 0.8858, 0.9098, 0.9339, 0.9567, 0.9789, 0.9984, 1.0, 1.0),
    relative_lengths=True,
    multi_coverage_quantiles=(0.0016, 0.1045, 0.1514, 0.2029, 0.2393, 0.2861, 0.3278, 0.3646, 0.4042, 0.4455,
                              0.4893, 0.5328, 0.5774, 0.6166, 0.6587, 0.6976, 0.7389, 0.7838, 0.8391, 0.9001, 1.0),
    labels_per_video_probabilities=(0.9991, 0.0009, 0.0),
)

PRESETS = {"thumos14": THUMOS14, "activitynet13": ACTIVITYNET13}
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

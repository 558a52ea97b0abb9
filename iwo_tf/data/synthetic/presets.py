"""The real datasets' layout statistics that `--preset` reproduces.

Measured from the public annotation files (THUMOS14: ActionFormer's thumos14.json, 200 validation + 212
test videos, 6,365 instances; ActivityNet1.3: the TSP ground-truth CSVs, 10,024 training + 4,926
validation videos, 23,064 instances). Distributions are inverse-CDF tables at the 0, 5, ..., 100th
percentiles (interpolated log-linearly), or probability tables for small counts, pooled over both
subsets. Measured: video durations, instances per second (THUMOS14) or per video (ActivityNet, P(n) for
n = 1..10, the 0.2% with more left out), instance lengths in seconds (THUMOS14) or relative to the video
(ActivityNet), and distinct classes per video.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple


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

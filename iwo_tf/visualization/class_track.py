"""What one predicted class of one video looks like after winners-out testing."""
from __future__ import annotations

import dataclasses
from typing import List, Tuple

import numpy as np


@dataclasses.dataclass
class ClassTrack:
    """One predicted class of one video: its scores, the winners-out steps and the detections.

    Args:
        class_index: index into the class names.
        class_name: the class.
        video_score: the video-level softmax score of the class.
        curve: `[K]` segment scores of the class on all segments (what step 1 ranks).
        selection_step: `[K]` int, the 0-based winners-out step that selected each segment, -1 if none.
        selected_score: `[K]` the score each segment had when it was selected (0 if never).
        detections: `[(start_sec, end_sec, score)]` of the class, best first.
        ground_truth: `[(start_sec, end_sec)]` instances of the class in the video.
    """

    class_index: int
    class_name: str
    video_score: float
    curve: np.ndarray
    selection_step: np.ndarray
    selected_score: np.ndarray
    detections: List[Tuple[float, float, float]]
    ground_truth: List[Tuple[float, float]]

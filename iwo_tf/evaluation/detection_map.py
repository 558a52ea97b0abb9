"""Temporal action detection mAP, numerically identical to the official ActivityNet evaluator.

The reference is ``ANETdetection`` / ``compute_average_precision_detection`` / ``interpolated_prec_rec`` /
``segment_iou`` in activitynet/ActivityNet ``Evaluation/``; this is an independent numpy
re-implementation without pandas or joblib. See :func:`compute_detection_map` for the exact behaviours.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from iwo_tf.evaluation.results_json import (
    GROUND_TRUTH_SOURCE,
    PREDICTIONS_SOURCE,
    DetectionInstances,
    GroundTruthInstances,
    parse_detections,
    parse_ground_truth,
)
from iwo_tf.errors import UserInputError

__all__ = [
    "MAX_TIOU_THRESHOLDS",
    "THUMOS14_TIOU_THRESHOLDS",
    "ACTIVITYNET_TIOU_THRESHOLDS",
    "DetectionMapResult",
    "compute_detection_map",
    "segment_iou",
    "interpolated_average_precision",
    "class_average_precision",
]

# np.linspace, exactly as the official code and the WTAL repositories build them: the values matter at
# the boundary (linspace(0.5, 0.95, 10)[8] is 0.8999999999999999, not 0.9).
THUMOS14_TIOU_THRESHOLDS: Tuple[float, ...] = tuple(float(t) for t in np.linspace(0.1, 0.7, 7))
ACTIVITYNET_TIOU_THRESHOLDS: Tuple[float, ...] = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))
# Matching costs memory proportional to (detections x thresholds); a bound keeps a typo in a range from
# allocating gigabytes (0:1e-9:1 would be a billion thresholds).
MAX_TIOU_THRESHOLDS = 1000


def segment_iou(predictions: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    """Temporal IoU between every prediction [P, 2] and every ground-truth segment [G, 2] -> [P, G].

    Same floating-point operations, in the same order, as the official ``segment_iou(target, candidates)``
    with the prediction as target: intersection clipped at 0, union = len(gt) + len(pred) - intersection.
    Two zero-length segments give 0/0 = NaN, as in the official code (see ``class_average_precision``).
    """
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1, 2)
    ground_truth = np.asarray(ground_truth, dtype=np.float64).reshape(-1, 2)
    p0, p1 = predictions[:, 0:1], predictions[:, 1:2]
    g0, g1 = ground_truth[None, :, 0], ground_truth[None, :, 1]
    intersection = (np.minimum(p1, g1) - np.maximum(p0, g0)).clip(0)
    union = (g1 - g0) + (p1 - p0) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / union


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC (2011+) all-point interpolated AP, as the official ``interpolated_prec_rec``.

    Precision is padded with 0 at both ends and recall with 0 / 1, precision is made monotonically
    non-increasing from the right, and the area is summed where recall changes.
    """
    mprec = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    mrec = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def _descending(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The official ``values.argsort()[::-1]`` made deterministic: stable ascending sort, reversed.

    Ties therefore come out in reverse input order; NaN (sorted last ascending) comes out first.
    numpy's default introsort finishes small partitions (<= 16 elements) with a stable insertion sort,
    so it agrees with this there; beyond that (or where numpy dispatches to SIMD sorts) the official
    order of ties is implementation-defined.
    """
    order = np.argsort(values, axis=axis, kind="stable")
    return np.flip(order, axis=axis)


def class_average_precision(
    gt_videos: np.ndarray,
    gt_segments: np.ndarray,
    pred_videos: np.ndarray,
    pred_scores: np.ndarray,
    pred_segments: np.ndarray,
    tiou_thresholds: Sequence[float],
) -> np.ndarray:
    """AP of one class at each threshold, as the official ``compute_average_precision_detection``.

    Args:
        gt_videos: int [G] video index of each ground-truth instance of the class (file order).
        gt_segments: float [G, 2].
        pred_videos: int [N] video index of each prediction of the class (file order); an index that
            no ground truth of the class has (e.g. -1) makes the prediction a false positive.
        pred_scores: float [N].
        pred_segments: float [N, 2].
        tiou_thresholds: T thresholds.

    Returns:
        float64 [T]; zeros when there are no predictions.
    """
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    num_thresholds = thresholds.size
    num_predictions = int(np.asarray(pred_scores).size)
    if num_predictions == 0:
        return np.zeros(num_thresholds)
    npos = float(len(gt_videos))
    gt_videos = np.asarray(gt_videos)
    gt_segments = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)

    order = _descending(np.asarray(pred_scores, dtype=np.float64))
    videos = np.asarray(pred_videos)[order]
    segments = np.asarray(pred_segments, dtype=np.float64).reshape(-1, 2)[order]
    tp = np.zeros((num_thresholds, num_predictions), dtype=bool)

    # Predictions only interact (through the ground-truth locks) within a video: process each video's
    # predictions in score order; ground truth of the video keeps its file order.
    gt_order = np.argsort(gt_videos, kind="stable")
    gt_sorted_videos = gt_videos[gt_order]
    by_video = np.argsort(videos, kind="stable")
    video_keys, starts = np.unique(videos[by_video], return_index=True)
    bounds = np.append(starts, num_predictions)
    lo = np.searchsorted(gt_sorted_videos, video_keys, side="left")
    hi = np.searchsorted(gt_sorted_videos, video_keys, side="right")
    rows = np.arange(num_thresholds)
    for v in range(video_keys.size):
        if hi[v] == lo[v]:
            continue  # no ground truth of this class in the video: all false positives
        positions = by_video[bounds[v] : bounds[v + 1]]  # ascending = score order
        gts = gt_segments[gt_order[lo[v] : hi[v]]]
        tiou = segment_iou(segments[positions], gts)  # [p, g]
        gt_rank = _descending(tiou, axis=1)  # official: tiou_arr.argsort()[::-1]
        ranked_tiou = np.take_along_axis(tiou, gt_rank, axis=1)
        # passes[i, t, k]: the k-th best ground truth of prediction i is not below threshold t
        # (the official test is `tiou < thr` -> false positive; NaN never fails it).
        passes = ~(ranked_tiou[:, None, :] < thresholds[None, :, None])
        candidates = np.flatnonzero(passes[:, :, 0].any(axis=1))
        if candidates.size == 0:
            continue
        locked = np.zeros((num_thresholds, gts.shape[0]), dtype=bool)
        for i in candidates:
            # Official loop: walk the ranked ground truth; below threshold -> FP; locked -> next;
            # otherwise TP and lock. Ranked tIoU is non-increasing (NaN first), so this is: the first
            # unlocked ranked ground truth, TP iff it passes the threshold.
            free = ~locked[:, gt_rank[i]]  # [T, g]
            first = free.argmax(axis=1)
            hit = free[rows, first] & passes[i, rows, first]
            if hit.any():
                tp[hit, positions[i]] = True
                locked[rows[hit], gt_rank[i, first[hit]]] = True

    tp_cumsum = np.cumsum(tp, axis=1).astype(np.float64)
    fp_cumsum = np.cumsum(~tp, axis=1).astype(np.float64)
    recall = tp_cumsum / npos
    precision = tp_cumsum / (tp_cumsum + fp_cumsum)
    return np.array([interpolated_average_precision(precision[t], recall[t]) for t in range(num_thresholds)])


@dataclasses.dataclass
class DetectionMapResult:
    """Detection mAP at each tIoU threshold.

    Attributes:
        tiou_thresholds: float64 [T], in the order asked for.
        mAP: float64 [T], fractions in [0, 1]: mean over ``class_names`` of ``ap_per_class``.
        average_mAP: mean of ``mAP`` over the thresholds.
        ap_per_class: float64 [C, T].
        class_names: the C classes (ground-truth labels of the subset, in order of first appearance).
        subset: the subset evaluated (None: all videos).
        num_ground_truth: ground-truth instances in the subset.
        num_ground_truth_videos: videos of the subset (with or without annotations).
        num_predictions: detections read (after ``blocked_videos``).
        num_predictions_evaluated: detections whose label is a ground-truth class.
        prediction_videos_without_ground_truth: prediction videos absent from the subset's ground truth;
            their detections all count as false positives. Many of them usually means mismatched ids
            (e.g. ActivityNet ``v_`` prefixes) or the wrong subset.
        ignored_labels: ``{label: count}`` of detections whose label is not a ground-truth class; they
            are left out of the evaluation.
        classes_without_predictions: classes that got AP 0 because no detection has their label.
    """

    tiou_thresholds: np.ndarray
    mAP: np.ndarray
    average_mAP: float
    ap_per_class: np.ndarray
    class_names: Tuple[Any, ...]
    subset: Optional[str] = None
    num_ground_truth: int = 0
    num_ground_truth_videos: int = 0
    num_predictions: int = 0
    num_predictions_evaluated: int = 0
    prediction_videos_without_ground_truth: Tuple[str, ...] = ()
    ignored_labels: Dict[Any, int] = dataclasses.field(default_factory=dict)
    classes_without_predictions: Tuple[Any, ...] = ()

    def to_json_dict(self) -> dict:
        """A JSON-serialisable summary; mAP values are fractions, in threshold order."""
        return {
            "tiou_thresholds": [float(t) for t in self.tiou_thresholds],
            "mAP": [float(v) for v in self.mAP],
            "average_mAP": float(self.average_mAP),
            "per_class_ap": {
                str(name): [float(v) for v in row] for name, row in zip(self.class_names, self.ap_per_class)
            },
            "class_names": [str(name) for name in self.class_names],
            "subset": self.subset,
            "num_classes": len(self.class_names),
            "num_ground_truth": int(self.num_ground_truth),
            "num_ground_truth_videos": int(self.num_ground_truth_videos),
            "num_predictions": int(self.num_predictions),
            "num_predictions_evaluated": int(self.num_predictions_evaluated),
            "num_prediction_videos_without_ground_truth": len(self.prediction_videos_without_ground_truth),
            "prediction_videos_without_ground_truth": list(self.prediction_videos_without_ground_truth),
            "ignored_labels": {str(k): int(v) for k, v in self.ignored_labels.items()},
            "classes_without_predictions": [str(c) for c in self.classes_without_predictions],
        }

    def format_table(self, per_class: bool = False) -> str:
        """A plain-text table: mAP (%) per tIoU threshold and their average (optionally per class)."""
        head = f"{'tIoU':<24}" + "".join(f"{t:>7.2f}" for t in self.tiou_thresholds) + f"{'avg':>7}"
        lines = [head, "-" * len(head)]
        lines.append(f"{'mAP (%)':<24}" + "".join(f"{100 * v:>7.2f}" for v in self.mAP) + f"{100 * self.average_mAP:>7.2f}")
        if per_class:
            lines.append("-" * len(head))
            # Class order (sorted names: THUMOS14's and ActivityNet's class indices follow it), not the
            # order of first appearance in the ground truth that the mAP computation keeps.
            for name, row in sorted(zip(self.class_names, self.ap_per_class), key=lambda item: str(item[0])):
                label = str(name)[:23]
                lines.append(f"{label:<24}" + "".join(f"{100 * v:>7.2f}" for v in row) + f"{100 * row.mean():>7.2f}")
        return "\n".join(lines)

    def warnings(self) -> List[str]:
        """Human-readable notes on inputs that were counted as false positives or ignored."""
        notes = []
        missing = self.prediction_videos_without_ground_truth
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            notes.append(
                f"{len(missing)} prediction video(s) have no ground truth in subset {self.subset!r} "
                f"(all their detections are false positives): {shown}"
            )
        if self.ignored_labels:
            shown = ", ".join(f"{k!r} ({v})" for k, v in list(self.ignored_labels.items())[:5])
            notes.append(f"{sum(self.ignored_labels.values())} detection(s) with labels that are not ground-truth classes were ignored: {shown}")
        if self.classes_without_predictions:
            shown = ", ".join(map(str, self.classes_without_predictions[:5]))
            notes.append(f"{len(self.classes_without_predictions)} class(es) have no detections (AP 0): {shown}")
        return notes


def _strip_v(video: str) -> str:
    return video[2:] if video.startswith("v_") else video


def _renamed(ids: List[str], videos: List[str], what: str) -> Tuple[List[str], List[str]]:
    mapping: Dict[str, str] = {}
    seen: Dict[str, str] = {}
    for video in videos:
        new = _strip_v(video)
        if new in seen and seen[new] != video:
            raise UserInputError(f"strip_v_prefix: {what} videos {seen[new]!r} and {video!r} both become {new!r}")
        seen[new] = video
        mapping[video] = new
    return [mapping[v] for v in ids], [mapping[v] for v in videos]


def compute_detection_map(
    ground_truth: Mapping,
    predictions: Mapping,
    *,
    subset: Optional[str] = None,
    tiou_thresholds: Sequence[float] = THUMOS14_TIOU_THRESHOLDS,
    strip_v_prefix: bool = False,
    blocked_videos: Iterable[str] = (),
    ground_truth_source: str = GROUND_TRUTH_SOURCE,
    predictions_source: str = PREDICTIONS_SOURCE,
) -> DetectionMapResult:
    """Detection mAP of ActivityNet-format ``predictions`` against ``ground_truth``, as ``ANETdetection``.

    Behaviour (each one the official evaluator's unless marked *ours*):

    * Subset: only ground-truth videos whose ``subset`` equals ``subset`` exactly (case-sensitive) are
      used; ``None`` uses every video (*ours*: the official code always filters). A subset that no video
      has raises ``ValueError`` listing the subsets present (*ours*; official silently gives NaN).
    * Classes: the labels occurring in the subset's ground truth, in order of first appearance. mAP is
      the plain mean of AP over these classes.
    * Labels are compared exactly (``"3"`` != ``3``). A detection whose label is not a ground-truth
      class is ignored and counted in ``ignored_labels`` (*ours*: the official importer raises
      ``KeyError``; such detections could never enter any class's AP anyway).
    * A class with no detections gets AP 0 and still counts in the mean (official master prints a
      warning and returns zeros).
    * Video ids are matched exactly. A detection in a video that has no ground truth of its class
      (including a video absent from the subset) is a false positive. Prediction videos absent from the
      subset's ground truth are listed in ``prediction_videos_without_ground_truth``. With
      ``strip_v_prefix=True`` (*ours*, opt-in) a leading ``"v_"`` is removed from every ground-truth and
      prediction id first (ActivityNet ids are ``v_``-less in the official ground truth but prefixed in
      some result files); ids that collide after stripping raise ``ValueError``.
    * ``blocked_videos``: ids dropped from both sides before anything else (the official evaluator
      downloads such a list when ``check_status`` is on; here it is explicit, default empty).
    * Ordering: per class, detections keep file order (video order, then entry order) and are sorted
      by score with the official ``argsort()[::-1]``, made deterministic as a stable ascending sort
      reversed: tied scores are visited in *reverse* file order. (numpy's default argsort agrees for
      small inputs; for large ones the official order of ties depends on numpy's sort implementation
      and CPU, so nothing can reproduce it everywhere; without ties the results are identical.)
    * Matching, per threshold: each detection, in that order, takes the unlocked ground-truth instance
      of its video and class with the highest tIoU, if that tIoU >= threshold (TP, the instance is
      locked); otherwise it is a false positive. So a second detection of an already matched instance
      is a FP unless another instance qualifies. Ground-truth tIoU ties use the same reversed stable
      order. Two zero-length segments have tIoU NaN, which the official test (``tiou < thr``) passes.
    * AP: precision/recall from the cumulative TP/FP counts (recall over the class's ground-truth
      count), VOC all-point interpolation (``interpolated_prec_rec``).
    * Segments given as numeric strings (BaS-Net ``gt.json``) are converted with ``float``.
    * Thresholds are used in the order given (not sorted); each must be in [0, 1].

    Args:
        ground_truth: ``{"database": {video: {"subset", "annotations": [{"label", "segment"}]}}}``.
        predictions: ``{"results": {video: [{"label", "score", "segment"}]}}``.
        subset: subset name to evaluate, or None for all ground-truth videos.
        tiou_thresholds: tIoU thresholds.
        strip_v_prefix: remove a leading ``v_`` from all video ids before matching.
        blocked_videos: video ids to leave out of both ground truth and predictions.
        ground_truth_source, predictions_source: names used in error messages (e.g. file paths).

    Returns:
        DetectionMapResult.

    Raises:
        ResultsFormatError (a ValueError): malformed documents.
        ValueError: bad thresholds, empty subset, id collisions with ``strip_v_prefix``.
    """
    thresholds = np.asarray([float(t) for t in tiou_thresholds], dtype=np.float64)
    if thresholds.size > MAX_TIOU_THRESHOLDS:
        raise UserInputError(f"{thresholds.size} tIoU thresholds; at most {MAX_TIOU_THRESHOLDS} are evaluated")
    if thresholds.size == 0:
        raise UserInputError("tiou_thresholds is empty")
    if not np.all(np.isfinite(thresholds)) or np.any(thresholds < 0) or np.any(thresholds > 1):
        raise UserInputError(f"tIoU thresholds must be in [0, 1], got {thresholds.tolist()}")

    gt: GroundTruthInstances = parse_ground_truth(ground_truth, subset=subset, source=ground_truth_source)
    det: DetectionInstances = parse_detections(predictions, source=predictions_source)
    if subset is not None and not gt.videos:
        present = sorted({str(e.get("subset")) for e in ground_truth["database"].values()})
        raise UserInputError(f"{ground_truth_source}: no video in subset {subset!r}; subsets present: {present}")

    gt_ids, gt_videos = gt.video_ids, gt.videos
    det_ids, det_videos = det.video_ids, det.videos
    if strip_v_prefix:
        gt_ids, gt_videos = _renamed(gt_ids, gt_videos, "ground-truth")
        det_ids, det_videos = _renamed(det_ids, det_videos, "prediction")

    gt_keep = np.ones(len(gt_ids), dtype=bool)
    det_keep = np.ones(len(det_ids), dtype=bool)
    blocked = {(_strip_v(b) if strip_v_prefix else b) for b in blocked_videos}
    if blocked:
        gt_keep = np.array([v not in blocked for v in gt_ids], dtype=bool)
        det_keep = np.array([v not in blocked for v in det_ids], dtype=bool)
        gt_videos = [v for v in gt_videos if v not in blocked]
        det_videos = [v for v in det_videos if v not in blocked]

    # classes in order of first appearance in the (kept) ground truth
    class_index: Dict[Any, int] = {}
    for label, keep in zip(gt.labels, gt_keep):
        if keep and label not in class_index:
            class_index[label] = len(class_index)
    if not class_index:
        raise UserInputError(f"{ground_truth_source}: no ground-truth annotations" + (f" in subset {subset!r}" if subset is not None else ""))

    # integer codes: videos (ground-truth videos first so prediction-only videos get codes no GT has)
    video_code: Dict[str, int] = {}
    for video in gt_videos:
        video_code.setdefault(video, len(video_code))
    missing: List[str] = []
    for video in det_videos:
        if video not in video_code:
            video_code[video] = len(video_code)
            missing.append(video)

    gt_class = np.array([class_index[l] for l in gt.labels], dtype=np.int64)[gt_keep] if gt.labels else np.zeros(0, np.int64)
    gt_vid = np.array([video_code.get(v, -1) for v in gt_ids], dtype=np.int64)[gt_keep] if gt_ids else np.zeros(0, np.int64)
    gt_seg = gt.segments[gt_keep]

    ignored: Dict[Any, int] = {}
    det_class_list = []
    for label, keep in zip(det.labels, det_keep):
        if not keep:
            det_class_list.append(-1)
            continue
        code = class_index.get(label, -1)
        if code < 0:
            ignored[label] = ignored.get(label, 0) + 1
        det_class_list.append(code)
    det_class = np.array(det_class_list, dtype=np.int64)
    det_vid = np.array([video_code.get(v, -1) for v in det_ids], dtype=np.int64)
    evaluated = det_class >= 0

    num_classes = len(class_index)
    ap = np.zeros((num_classes, thresholds.size))
    without_predictions = []
    # Group by class once (stable: file order within a class).
    det_by_class = np.argsort(det_class, kind="stable")
    det_class_sorted = det_class[det_by_class]
    gt_by_class = np.argsort(gt_class, kind="stable")
    gt_class_sorted = gt_class[gt_by_class]
    names = list(class_index)
    for c in range(num_classes):
        d = det_by_class[np.searchsorted(det_class_sorted, c, "left") : np.searchsorted(det_class_sorted, c, "right")]
        g = gt_by_class[np.searchsorted(gt_class_sorted, c, "left") : np.searchsorted(gt_class_sorted, c, "right")]
        if d.size == 0:
            without_predictions.append(names[c])
            continue
        ap[c] = class_average_precision(gt_vid[g], gt_seg[g], det_vid[d], det.scores[d], det.segments[d], thresholds)

    # official: ap is [T, C] and mAP = ap.mean(axis=1); same layout for the same rounding
    m_ap = np.ascontiguousarray(ap.T).mean(axis=1)
    return DetectionMapResult(
        tiou_thresholds=thresholds,
        mAP=m_ap,
        average_mAP=float(m_ap.mean()),
        ap_per_class=ap,
        class_names=tuple(names),
        subset=subset,
        num_ground_truth=int(gt_keep.sum()),
        num_ground_truth_videos=len(gt_videos),
        num_predictions=int(det_keep.sum()),
        num_predictions_evaluated=int(evaluated.sum()),
        prediction_videos_without_ground_truth=tuple(missing),
        ignored_labels=ignored,
        classes_without_predictions=tuple(without_predictions),
    )

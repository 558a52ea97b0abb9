"""Reading, validating and writing ActivityNet-format ground-truth and detection JSON.

The two documents (see ``docs/DATA.md``)::

    ground truth  {"version": ..., "taxonomy": [...],
                   "database": {video: {"subset": s, "annotations": [{"label": l, "segment": [t0, t1]}]}}}
    detections    {"version": ..., "external_data": {...},
                   "results": {video: [{"label": l, "score": x, "segment": [t0, t1]}]}}

Only ``database`` / ``results`` are required (the official evaluator also insists on ``taxonomy``,
``version`` and ``external_data``; BaS-Net's ``gt.json`` has none of them). Segment bounds may be
numbers or numeric strings (BaS-Net's ``gt.json`` stores ``["18.6", "24.8"]``); they are converted with
``float`` exactly as the official evaluator does. Every problem raises :class:`ResultsFormatError`
naming the file (or ``<ground truth>`` / ``<predictions>`` for in-memory dicts), the video, the entry
and what is wrong.

Reading is strict: a key that occurs twice in one JSON object is an error naming the file and the key
(``json`` would silently keep the last one), and nesting deeper than the parser can follow is a one-line
error, not a ``RecursionError``. Writes go through ``iwo_tf.io`` (temporary file, fsync, rename; the
user's umask), so a reader never sees a partially written file.
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from iwo_tf.errors import UserInputError
from iwo_tf.io import write_text_atomic

__all__ = [
    "ResultsFormatError",
    "GroundTruthInstances",
    "DetectionInstances",
    "load_json",
    "write_json_atomic",
    "parse_ground_truth",
    "parse_detections",
    "validate_ground_truth",
    "validate_detections",
    "read_ground_truth",
    "read_detections",
    "detections_document",
    "write_detections",
    "ground_truth_document",
    "write_ground_truth",
]

GROUND_TRUTH_SOURCE = "<ground truth>"
PREDICTIONS_SOURCE = "<predictions>"


class ResultsFormatError(UserInputError):
    """A ground-truth or detection document (or file) is malformed; the message says where and why."""


@dataclasses.dataclass(frozen=True)
class GroundTruthInstances:
    """Ground-truth instances of one subset, flattened in file order (video order, then annotation order).

    Attributes:
        video_ids: the video of each instance, length N.
        labels: the label of each instance (as in the file: usually a string), length N.
        segments: float64 [N, 2] (start, end) in seconds.
        videos: every video of the subset in file order, including videos without annotations.
    """

    video_ids: List[str]
    labels: List[Any]
    segments: np.ndarray
    videos: List[str]


@dataclasses.dataclass(frozen=True)
class DetectionInstances:
    """Detections flattened in file order (video order, then entry order).

    Attributes:
        video_ids: the video of each detection, length N.
        labels: the label of each detection, length N.
        scores: float64 [N].
        segments: float64 [N, 2] (start, end) in seconds.
        videos: every video key of ``results`` in file order (including those with an empty list).
    """

    video_ids: List[str]
    labels: List[Any]
    scores: np.ndarray
    segments: np.ndarray
    videos: List[str]


# --------------------------------------------------------------------------------------------------
# file I/O
# --------------------------------------------------------------------------------------------------
class _DuplicateKeyError(ValueError):
    def __init__(self, key):
        super().__init__(key)
        self.key = key


def _refuse_duplicate_keys(pairs):
    document = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKeyError(key)
        document[key] = value
    return document


def load_json(path: str) -> Any:
    """Loads a JSON file strictly; every problem raises ResultsFormatError naming the file.

    Refused: a missing file, not a file, invalid JSON, a key twice in one object, nesting too deep.
    """
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f, object_pairs_hook=_refuse_duplicate_keys)
    except FileNotFoundError as e:
        raise ResultsFormatError(f"{path}: file not found") from e
    except IsADirectoryError as e:
        raise ResultsFormatError(f"{path}: is a directory, expected a JSON file") from e
    except _DuplicateKeyError as e:
        raise ResultsFormatError(f"{path}: the key {e.key!r} occurs twice in one object (which one is meant is ambiguous)") from None
    except RecursionError:
        raise ResultsFormatError(f"{path}: JSON nested too deeply to read (not a ground-truth or detection file)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultsFormatError(f"{path}: not valid JSON ({e})") from e


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


def write_json_atomic(path: str, document: Any, *, indent: Optional[int] = None) -> str:
    """Writes ``document`` as JSON to ``path`` atomically with ``iwo_tf.io``; returns ``path``.

    The project's one atomic writer (``iwo_tf.io.write_text_atomic``) under the name this module's
    callers import; numpy scalars and arrays are converted, NaN/Infinity refused (they are not JSON).
    """
    text = json.dumps(document, indent=indent, default=_json_default, allow_nan=False)
    return write_text_atomic(path, text + "\n")


# --------------------------------------------------------------------------------------------------
# validation / parsing
# --------------------------------------------------------------------------------------------------
def _is_label(value: Any) -> bool:
    return isinstance(value, (str, numbers.Integral)) and not isinstance(value, bool)


def _parse_bound(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise ResultsFormatError(f"{where}: segment {name} {value!r} is not a number")
    try:
        number = float(value)
    except ValueError as e:
        raise ResultsFormatError(f"{where}: segment {name} {value!r} is not a number") from e
    if not math.isfinite(number):
        raise ResultsFormatError(f"{where}: segment {name} {value!r} is not finite")
    return number


def _parse_segment(value: Any, where: str) -> Tuple[float, float]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ResultsFormatError(f"{where}: 'segment' must be a [start, end] list, got {value!r}")
    if len(value) != 2:
        raise ResultsFormatError(f"{where}: 'segment' must have 2 values [start, end], got {len(value)}")
    start = _parse_bound(value[0], where, "start")
    end = _parse_bound(value[1], where, "end")
    if end < start:
        raise ResultsFormatError(f"{where}: segment end {end!r} < start {start!r}")
    return start, end


def _parse_score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ResultsFormatError(f"{where}: 'score' must be a number, got {value!r}")
    score = float(value)
    if not math.isfinite(score):
        raise ResultsFormatError(f"{where}: 'score' {value!r} is not finite")
    return score


def _top_level(data: Any, key: str, source: str) -> Mapping:
    if not isinstance(data, Mapping):
        raise ResultsFormatError(f"{source}: expected a JSON object with a {key!r} key, got {type(data).__name__}")
    if key not in data:
        raise ResultsFormatError(f"{source}: missing top-level key {key!r} (found keys: {sorted(map(str, data))})")
    inner = data[key]
    if not isinstance(inner, Mapping):
        raise ResultsFormatError(f"{source}: {key!r} must be an object keyed by video id, got {type(inner).__name__}")
    return inner


def parse_ground_truth(
    data: Any, *, subset: Optional[str] = None, source: str = GROUND_TRUTH_SOURCE
) -> GroundTruthInstances:
    """Validates a ground-truth document and flattens the instances of ``subset`` (all when None).

    Every video is validated, whatever its subset. With a subset, a video without a ``subset`` key is
    an error; subset names are compared exactly (``"test"`` != ``"Test"``), as the official evaluator does.
    """
    database = _top_level(data, "database", source)
    video_ids: List[str] = []
    labels: List[Any] = []
    segments: List[Tuple[float, float]] = []
    videos: List[str] = []
    for video, entry in database.items():
        where_video = f"{source}: video {video!r}"
        if not isinstance(video, str):
            raise ResultsFormatError(f"{where_video}: video ids must be strings")
        if not isinstance(entry, Mapping):
            raise ResultsFormatError(f"{where_video}: entry must be an object, got {type(entry).__name__}")
        if "subset" in entry and not isinstance(entry["subset"], str):
            raise ResultsFormatError(f"{where_video}: 'subset' must be a string, got {entry['subset']!r}")
        if subset is not None and "subset" not in entry:
            raise ResultsFormatError(f"{where_video}: missing key 'subset' (needed to filter subset {subset!r})")
        if "annotations" not in entry:
            raise ResultsFormatError(f"{where_video}: missing key 'annotations'")
        annotations = entry["annotations"]
        if not isinstance(annotations, list):
            raise ResultsFormatError(f"{where_video}: 'annotations' must be a list, got {type(annotations).__name__}")
        selected = subset is None or entry["subset"] == subset
        parsed = []
        for i, annotation in enumerate(annotations):
            where = f"{where_video}, annotation #{i}"
            if not isinstance(annotation, Mapping):
                raise ResultsFormatError(f"{where}: must be an object, got {type(annotation).__name__}")
            for key in ("label", "segment"):
                if key not in annotation:
                    raise ResultsFormatError(f"{where}: missing key {key!r}")
            if not _is_label(annotation["label"]):
                raise ResultsFormatError(f"{where}: 'label' must be a string or integer, got {annotation['label']!r}")
            parsed.append((annotation["label"], _parse_segment(annotation["segment"], where)))
        if selected:
            videos.append(video)
            for label, segment in parsed:
                video_ids.append(video)
                labels.append(label)
                segments.append(segment)
    return GroundTruthInstances(
        video_ids=video_ids,
        labels=labels,
        segments=np.asarray(segments, dtype=np.float64).reshape(-1, 2),
        videos=videos,
    )


def parse_detections(data: Any, *, source: str = PREDICTIONS_SOURCE) -> DetectionInstances:
    """Validates a detection document and flattens its detections in file order."""
    results = _top_level(data, "results", source)
    video_ids: List[str] = []
    labels: List[Any] = []
    scores: List[float] = []
    segments: List[Tuple[float, float]] = []
    videos: List[str] = []
    for video, entries in results.items():
        where_video = f"{source}: video {video!r}"
        if not isinstance(video, str):
            raise ResultsFormatError(f"{where_video}: video ids must be strings")
        if not isinstance(entries, list):
            raise ResultsFormatError(f"{where_video}: detections must be a list, got {type(entries).__name__}")
        videos.append(video)
        for i, entry in enumerate(entries):
            where = f"{where_video}, detection #{i}"
            if not isinstance(entry, Mapping):
                raise ResultsFormatError(f"{where}: must be an object, got {type(entry).__name__}")
            for key in ("label", "score", "segment"):
                if key not in entry:
                    raise ResultsFormatError(f"{where}: missing key {key!r}")
            if not _is_label(entry["label"]):
                raise ResultsFormatError(f"{where}: 'label' must be a string or integer, got {entry['label']!r}")
            scores.append(_parse_score(entry["score"], where))
            segments.append(_parse_segment(entry["segment"], where))
            video_ids.append(video)
            labels.append(entry["label"])
    return DetectionInstances(
        video_ids=video_ids,
        labels=labels,
        scores=np.asarray(scores, dtype=np.float64),
        segments=np.asarray(segments, dtype=np.float64).reshape(-1, 2),
        videos=videos,
    )


def validate_ground_truth(data: Any, *, source: str = GROUND_TRUTH_SOURCE) -> None:
    """Raises ResultsFormatError at the first problem in a ground-truth document."""
    parse_ground_truth(data, subset=None, source=source)


def validate_detections(data: Any, *, source: str = PREDICTIONS_SOURCE) -> None:
    """Raises ResultsFormatError at the first problem in a detection document."""
    parse_detections(data, source=source)


def read_ground_truth(path: str) -> dict:
    """Loads and validates a ground-truth JSON file (errors name the file); returns the document."""
    data = load_json(path)
    validate_ground_truth(data, source=path)
    return data


def read_detections(path: str) -> dict:
    """Loads and validates a detection JSON file (errors name the file); returns the document."""
    data = load_json(path)
    validate_detections(data, source=path)
    return data


# --------------------------------------------------------------------------------------------------
# building / writing documents
# --------------------------------------------------------------------------------------------------
def detections_document(
    results: Mapping[str, Iterable[Mapping]],
    *,
    version: str = "VERSION 1.3",
    external_data: Optional[Mapping] = None,
) -> dict:
    """The ActivityNet detection envelope around ``{video: [{label, score, segment}]}`` (validated)."""
    document = {
        "version": version,
        "results": {str(video): [dict(e) for e in entries] for video, entries in results.items()},
        "external_data": dict(external_data) if external_data is not None else {"used": False, "details": ""},
    }
    validate_detections(document)
    return document


def write_detections(path: str, results: Mapping[str, Iterable[Mapping]], **envelope) -> str:
    """Validates and atomically writes a detection JSON file; returns ``path``."""
    return write_json_atomic(path, detections_document(results, **envelope))


def ground_truth_document(
    database: Mapping[str, Mapping], *, version: str = "VERSION 1.3", taxonomy: Optional[list] = None
) -> dict:
    """The ActivityNet ground-truth envelope around ``{video: {subset, annotations}}`` (validated)."""
    document = {
        "version": version,
        "taxonomy": list(taxonomy) if taxonomy is not None else [],
        "database": {str(video): dict(entry) for video, entry in database.items()},
    }
    validate_ground_truth(document)
    return document


def write_ground_truth(path: str, database: Mapping[str, Mapping], **envelope) -> str:
    """Validates and atomically writes a ground-truth JSON file; returns ``path``."""
    return write_json_atomic(path, ground_truth_document(database, **envelope))

"""The JSON input files the layouts read: annotation databases, video durations, class lists.

Each reader checks the document's shape, so a wrong or damaged file is one line naming it (and the
video, for an entry) instead of a KeyError or TypeError from deep inside a layout.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

from iwo_tf.data import validation
from iwo_tf.data.layouts.base import open_input_text
from iwo_tf.data.validation import BadVideoError
from iwo_tf.errors import UserInputError


def read_input_json(path: str) -> Any:
    """The parsed JSON document at `path` (UTF-8)."""
    with open_input_text(path) as f:
        try:
            return json.load(f)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise UserInputError(f"{path}: not valid JSON ({error})") from None


def read_annotation_database(path: str) -> Dict[str, dict]:
    """`{video: entry}` of an ActivityNet-style `{"database": {video: {"subset": ..., ...}}}` file.

    Raises:
        UserInputError: not JSON, or no `database` object.
        BadVideoError: an entry that is not an object or has no `subset`.
    """
    document = read_input_json(path)
    database = document.get("database") if isinstance(document, dict) else None
    if not isinstance(database, dict):
        raise UserInputError(f"{path}: expected a JSON object whose 'database' maps video ids to objects")
    for video, entry in database.items():
        if not isinstance(entry, dict):
            raise BadVideoError(validation.BAD_ANNOTATION, video, path, f"its entry is a {type(entry).__name__}, expected an object")
        if "subset" not in entry:
            raise BadVideoError(validation.BAD_ANNOTATION, video, path, "its entry has no 'subset'")
    return database


def read_durations(path: str) -> Dict[str, Any]:
    """`{video: duration}` from a `{video: {"duration": seconds, ...}}` file (videos without one left out)."""
    document = read_input_json(path)
    if not isinstance(document, dict):
        raise UserInputError(f"{path}: expected a JSON object mapping video ids to objects")
    durations = {}
    for video, entry in document.items():
        if not isinstance(entry, dict):
            raise BadVideoError(validation.BAD_ANNOTATION, video, path, f"its entry is a {type(entry).__name__}, expected an object")
        if "duration" in entry:
            durations[video] = entry["duration"]
    return durations


def read_class_list(path: str) -> List[str]:
    """A JSON list of class names."""
    names = read_input_json(path)
    if not isinstance(names, list):
        raise UserInputError(f"{path}: expected a JSON list of class names")
    return [str(name) for name in names]

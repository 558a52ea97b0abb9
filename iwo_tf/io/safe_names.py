"""File names built from data (video ids, class names, model names) without trusting the data."""
from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_file_component(name: str, max_length: int = 120) -> str:
    """A single path component for ``name`` that can never leave its directory.

    Keeps ``[A-Za-z0-9._-]``, replaces everything else with ``_`` and, when anything was replaced,
    the result would be hidden / ``.`` / ``..``, or it is too long, appends a short hash of the original
    so that two different names never map to the same file.

    Args:
        name: any string (a video id, a class name).
        max_length: the longest component returned.
    """
    name = str(name)
    cleaned = _UNSAFE.sub("_", name)
    if cleaned != name or cleaned.startswith(".") or not cleaned or len(cleaned) > max_length:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
        cleaned = f"{cleaned.lstrip('.')[: max_length - 11]}-{digest}"
    return cleaned

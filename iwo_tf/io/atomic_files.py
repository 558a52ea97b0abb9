"""Atomic writes: a reader sees the old file or the new one, never half of one.

Local paths: the bytes go to a fresh temporary file in the destination directory (created with
``O_CREAT | O_EXCL | O_NOFOLLOW``, so a pre-placed symlink is never followed), are flushed and fsynced,
then renamed over the destination (``os.replace`` replaces a symlink itself, never its target). The
file gets the permissions the user's umask gives a new file (0666 & ~umask), like ``open(..., "w")``.

URLs (``gs://``, ``s3://``, ``ram://`` ...): through ``tf.io.gfile`` (a temporary object, then
``rename(overwrite=True)``), so a workdir on a remote filesystem works end to end.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any, Optional

import tensorflow as tf

from iwo_tf.errors import UserInputError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: str) -> bool:
    """True for a filesystem URL (``gs://bucket/x``), False for a local path."""
    return bool(_URL.match(str(path)))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def makedirs(path: str) -> None:
    """Creates a directory and its parents (local or URL); no error when it exists.

    Raises:
        UserInputError: a local path that cannot be a directory (a file in the way, no permission),
            in one line naming it.
    """
    if is_url(path):
        tf.io.gfile.makedirs(path)
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        blocker = os.path.abspath(path)  # the nearest existing path at or above it
        while not os.path.lexists(blocker) and os.path.dirname(blocker) != blocker:
            blocker = os.path.dirname(blocker)
        if isinstance(error, (FileExistsError, NotADirectoryError)) and not os.path.isdir(blocker):
            problem = "it exists and is not a directory" if blocker == os.path.abspath(path) else f"{blocker} is not a directory"
        else:
            problem = error.strerror or str(error)
        raise UserInputError(f"{path}: cannot create this directory: {problem}") from None


def write_bytes_atomic(path: str, data: bytes) -> str:
    """Writes ``data`` to ``path`` atomically (see the module docstring); returns ``path``."""
    path = str(path)
    directory = os.path.dirname(path) or "."
    temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:12]}")
    if is_url(path):
        tf.io.gfile.makedirs(directory)
        try:
            with tf.io.gfile.GFile(temporary, "wb") as f:
                f.write(data)
            tf.io.gfile.rename(temporary, path, overwrite=True)
        except BaseException:
            if tf.io.gfile.exists(temporary):
                tf.io.gfile.remove(temporary)
            raise
        return path
    makedirs(directory)
    if os.path.isdir(path) and not os.path.islink(path):
        raise UserInputError(f"{path}: is a directory; give a file name to write")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temporary, flags, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except FileNotFoundError:
            pass
        raise
    return path


def write_text_atomic(path: str, text: str) -> str:
    """Writes UTF-8 ``text`` to ``path`` atomically; returns ``path``."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str, document: Any, *, indent: Optional[int] = 1) -> str:
    """Writes ``document`` as strict JSON (NaN and Infinity refused) to ``path`` atomically; returns ``path``."""
    text = json.dumps(document, indent=indent, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def read_json(path: str) -> Any:
    """Reads a JSON file (local or URL).

    Raises:
        UserInputError: not JSON (or not UTF-8), one line naming the file; a ValueError, as
            `json.load`'s error is.
    """
    with tf.io.gfile.GFile(str(path), "r") as f:
        try:
            return json.load(f)
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
            raise UserInputError(f"{path}: not valid JSON ({error})") from None

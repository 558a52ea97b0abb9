"""Where an export may write: validated model names, a version folder that stays inside the export
base, and the temporary folders of exports that were killed before they finished.

A version is written into `<export_base>/<model_name>/.tmp-<host>-<pid>-<random>` and renamed to its
integer version only when complete. A process killed with SIGKILL leaves that folder behind; the
next export into the same model folder removes the ones this host's dead processes left (their pid
is gone) and reports any it cannot prove stale (another host's, or an older name without a pid).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from typing import List, Tuple

from absl import logging

from iwo_tf.errors import UserInputError
from iwo_tf.io import makedirs

TMP_PREFIX = ".tmp-"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_TMP_NAME = re.compile(r"^\.tmp-(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)-[0-9a-f]+$")


def validate_model_name(model_name: str) -> str:
    """Returns `model_name` if it is a plain folder name (`[A-Za-z0-9._-]+`, not `.` or `..`).

    Raises:
        UserInputError: anything else (a `/`, an empty name, `.`/`..`, other characters).
    """
    name = str(model_name) if model_name is not None else ""
    if not _MODEL_NAME.match(name) or name in (".", ".."):
        raise UserInputError(
            f"model name {name!r} is not allowed: use letters, digits, '.', '_' and '-' only (not '.' or '..'); "
            "it becomes a folder under --export_base and the name TF Serving serves"
        )
    return name


def _inside(path: str, base: str) -> bool:
    return os.path.commonpath([path, base]) == base


def model_dir_inside(export_base: str, model_name: str) -> str:
    """Creates (if needed) and returns `<export_base>/<model_name>`, refusing one that resolves outside.

    The export base itself may be a symlink (the user named it); the model folder under it must
    not lead anywhere else.

    Raises:
        UserInputError: a bad model name, or a model folder that resolves outside the export base
            (e.g. a symlink placed there).
    """
    validate_model_name(model_name)
    makedirs(export_base)
    base = os.path.realpath(export_base)
    model_dir = os.path.join(export_base, model_name)
    if os.path.islink(model_dir):
        raise UserInputError(
            f"{model_dir} is a symbolic link (to {os.readlink(model_dir)}); refusing to export through it"
        )
    makedirs(model_dir)
    if not _inside(os.path.realpath(model_dir), base):
        raise UserInputError(f"{model_dir} resolves outside the export base {base}; refusing to export there")
    return model_dir


def version_dir_inside(model_dir: str, version: int) -> str:
    """`<model_dir>/<version>` after checking it stays inside `model_dir` (an integer >= 0)."""
    version = int(version)
    if version < 0:
        raise UserInputError(f"version must be a non-negative integer, got {version}")
    target = os.path.join(model_dir, str(version))
    if os.path.islink(target) or not _inside(os.path.realpath(os.path.dirname(target)), os.path.realpath(model_dir)):
        raise UserInputError(f"{target} is a symbolic link or leaves {model_dir}; refusing to publish there")
    return target


def new_temporary_dir(model_dir: str) -> str:
    """Creates a fresh private temporary folder for one export (mkdir fails rather than reuse a path)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
    path = os.path.join(model_dir, f"{TMP_PREFIX}{host}-{os.getpid()}-{uuid.uuid4().hex[:16]}")
    os.mkdir(path, 0o700)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(model_dir: str) -> Tuple[List[str], List[str]]:
    """Removes the temporary folders that dead exports on this host left in `model_dir`.

    A folder is removed only when its name says this host made it and that process no longer
    exists; it must be a real folder (a symlink is never followed or removed). Every other
    `.tmp-*` entry is reported with a warning and left alone.

    Returns:
        `(removed, reported)` lists of paths.
    """
    removed, reported = [], []
    if not os.path.isdir(model_dir):
        return removed, reported
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
    for name in sorted(os.listdir(model_dir)):
        if not name.startswith(TMP_PREFIX):
            continue
        path = os.path.join(model_dir, name)
        match = _TMP_NAME.match(name)
        stale = (
            match is not None
            and match.group("host") == host
            and int(match.group("pid")) != os.getpid()
            and not _pid_alive(int(match.group("pid")))
            and os.path.isdir(path)
            and not os.path.islink(path)
        )
        if stale:
            shutil.rmtree(path)
            removed.append(path)
            logging.warning("Removed %s, left by an export that was killed before it finished", path)
        else:
            reported.append(path)
            logging.warning(
                "%s looks like an unfinished export (another host's, a running one, or an older name); "
                "remove it by hand if no export is running",
                path,
            )
    return removed, reported

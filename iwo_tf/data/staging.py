"""Where a converted dataset is written before it appears: a hidden sibling of the output, renamed into place.

Rules (docs/SECURITY.md, "Converter"):

* The output path is never a symbolic link, and never equals, contains or lies inside an input path.
* An existing output is replaced only with `overwrite` and only when it is a converted dataset (a
  directory, not a link, holding a `dataset.json` of this project's format); anything else is refused.
* The staging directory is `.<name>.incomplete-<id>` beside the output; its owner file
  `.<name>.incomplete-<id>.owner` (host and pid) lies beside it, outside the directory that gets renamed.
  A later run removes a staging directory (and the `.old` copy of a dataset it was replacing) only
  when that owner file proves it was made by a conversion on this host whose process is gone;
  everything else that looks like one is reported, never deleted.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import uuid
from typing import List, Sequence

from iwo_tf.data.dataset_format import DATASET_JSON, FORMAT_NAME
from iwo_tf.errors import UserInputError
from iwo_tf.io import makedirs, write_json_atomic

_OWNER_SUFFIX = ".owner"


class OutputExistsError(UserInputError, FileExistsError):
    """The output directory exists and no overwrite was asked for (a user error that
    `except FileExistsError` also catches)."""


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _is_within(inner: str, outer: str) -> bool:
    try:
        return os.path.commonpath([inner, outer]) == outer
    except ValueError:  # different drives
        return False


def is_converted_dataset(path: str) -> bool:
    """True when `path` is a real directory (not a link) holding a dataset.json of this project's format."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        metadata_path = os.path.join(path, DATASET_JSON)
        if not stat.S_ISREG(os.lstat(metadata_path).st_mode):
            return False
        with open(metadata_path) as f:
            return json.load(f).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def check_output_path(output_dir: str, *, overwrite: bool, inputs: Sequence[str] = ()) -> str:
    """Validates the output path of a conversion; returns it absolute.

    Args:
        output_dir: the dataset directory to create.
        overwrite: whether an existing converted dataset there may be replaced.
        inputs: every input file or folder of the conversion.

    Raises:
        UserInputError: a link, an input (or inside one, or holding one), or an existing path that is
            not a converted dataset while `overwrite` is set.
        OutputExistsError: the output exists and `overwrite` is False.
    """
    output_dir = os.path.abspath(output_dir)
    if os.path.islink(output_dir):
        raise UserInputError(f"--output {output_dir} is a symbolic link; give the real directory (links are never written through or replaced)")
    real_output = _real(output_dir)
    for path in inputs:
        real_input = _real(path)
        if real_output == real_input:
            raise UserInputError(f"--output {output_dir} is the input {path}; choose a new directory")
        if _is_within(real_input, real_output):
            raise UserInputError(f"--output {output_dir} contains the input {path}; choose a directory outside the inputs")
        if _is_within(real_output, real_input):
            raise UserInputError(f"--output {output_dir} is inside the input {path}; choose a directory outside the inputs")
    if os.path.lexists(output_dir):
        if not overwrite:
            raise OutputExistsError(f"{output_dir} already exists (pass overwrite / --overwrite to replace a converted dataset)")
        if not is_converted_dataset(output_dir):
            raise UserInputError(
                f"--output {output_dir} exists and is not a converted dataset (no {DATASET_JSON} of format {FORMAT_NAME}); "
                "--overwrite only replaces a converted dataset, remove it yourself or choose another path"
            )
    return output_dir


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False


def _strip_old(entry: str) -> str:
    return entry[: -len(".old")] if entry.endswith(".old") else entry


def _remove_tree(path: str, problems: List[str]) -> None:
    def report(_function, failed, error):
        problems.append(f"{failed}: could not delete ({error[1]}); remove it by hand")

    shutil.rmtree(path, onerror=report)


def clean_stale_staging(output_dir: str) -> List[str]:
    """Removes the staging leftovers of killed conversions to `output_dir` that are provably stale.

    Returns:
        One line per leftover that was not removed (not provably ours, or still in use), for the caller
        to report; removed ones are not listed.
    """
    parent, name = os.path.split(os.path.abspath(output_dir))
    prefix = f".{name}.incomplete-"
    try:
        entries = sorted(os.listdir(parent))
    except FileNotFoundError:
        return []
    owners = {e[: -len(_OWNER_SUFFIX)] for e in entries if e.startswith(prefix) and e.endswith(_OWNER_SUFFIX)}
    reported = []
    for staging in sorted(owners):
        owner_path = os.path.join(parent, staging + _OWNER_SUFFIX)
        try:
            with open(owner_path) as f:
                owner = json.load(f)
            pid, host = int(owner["pid"]), str(owner["host"])
        except (OSError, ValueError, KeyError, TypeError):
            reported.append(f"{owner_path}: unreadable owner file; left alone")
            continue
        if host != socket.gethostname():
            reported.append(f"{os.path.join(parent, staging)}: made by a conversion on host {host}; left alone")
            continue
        if not _process_is_gone(pid):
            reported.append(f"{os.path.join(parent, staging)}: belongs to running process {pid} (a conversion in progress?); left alone")
            continue
        staging_path, old_path = os.path.join(parent, staging), os.path.join(parent, staging + ".old")
        if os.path.lexists(old_path) and not os.path.lexists(output_dir):
            reported.append(f"{old_path}: the dataset a killed conversion was replacing; rename it back to {output_dir} or delete it")
            continue
        for path in (staging_path, old_path):
            if os.path.islink(path):
                os.remove(path)
            elif os.path.isdir(path):
                shutil.rmtree(path)
        os.remove(owner_path)
    for entry in entries:
        if entry.startswith(prefix) and not entry.endswith(_OWNER_SUFFIX) and _strip_old(entry) not in owners:
            reported.append(f"{os.path.join(parent, entry)}: left by an earlier conversion that cannot be proven stale; delete it if no conversion is running")
    return reported


class StagingDirectory:
    """A hidden directory beside `output_dir` that becomes `output_dir` when `commit()` is called.

    Args:
        output_dir: the final directory, already checked with `check_output_path`.
        overwrite: replace an existing converted dataset at `output_dir` on commit.
    """

    def __init__(self, output_dir: str, *, overwrite: bool):
        self.output_dir = os.path.abspath(output_dir)
        self.overwrite = overwrite
        parent, name = os.path.split(self.output_dir)
        makedirs(parent)
        self.path = os.path.join(parent, f".{name}.incomplete-{uuid.uuid4().hex[:12]}")
        self._owner = self.path + _OWNER_SUFFIX
        write_json_atomic(self._owner, {"pid": os.getpid(), "host": socket.gethostname()})
        os.mkdir(self.path)

    def commit(self) -> List[str]:
        """Moves the staging directory to the output path, replacing a converted dataset there.

        Returns:
            Lines to report (an old copy that could not be fully deleted); empty when all went well.

        Raises:
            FileExistsError / UserInputError: the output appeared, or changed into something that is not
                a converted dataset, while converting (the new dataset is then discarded by the caller).
        """
        old = None
        if os.path.lexists(self.output_dir):
            check_output_path(self.output_dir, overwrite=self.overwrite)
            old = self.path + ".old"
            os.replace(self.output_dir, old)
        try:
            os.replace(self.path, self.output_dir)
        except BaseException:
            if old is not None:
                os.replace(old, self.output_dir)  # put the previous dataset back
            raise
        problems = []
        if old is not None:
            _remove_tree(old, problems)
        os.remove(self._owner)
        return problems

    def discard(self) -> None:
        """Deletes the staging directory and its owner file; the output path is left untouched."""
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            os.remove(self._owner)
        except FileNotFoundError:
            pass

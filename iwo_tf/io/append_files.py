"""Appending to a log file (a stream, so not atomic) without writing through a planted symlink."""
from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from iwo_tf.errors import UserInputError


def open_for_append(path: str) -> BinaryIO:
    """Opens the local file `path` for appending (binary), creating it with the umask's permissions.

    The open uses `O_NOFOLLOW`, so a symlink placed at `path` is refused instead of followed, and
    `O_NONBLOCK`, so a FIFO placed there is refused instead of blocking until a reader appears.

    Raises:
        UserInputError: `path` is a symlink or not a regular file (one line naming it).
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UserInputError(f"{path}: is a symlink; logs are never written through one (remove it)") from None
        if error.errno in (errno.ENXIO, errno.EISDIR):  # a FIFO with no reader, a directory
            raise UserInputError(f"{path}: not a regular file; remove it") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserInputError(f"{path}: not a regular file; remove it")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")

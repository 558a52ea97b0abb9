import os
import stat

import pytest

from iwo_tf.errors import UserInputError
from iwo_tf.io import open_for_append


def test_appends_and_creates_with_the_umask(tmp_path):
    path = tmp_path / "train.log"
    old = os.umask(0o027)
    try:
        with open_for_append(str(path)) as f:
            f.write(b"one\n")
    finally:
        os.umask(old)
    with open_for_append(str(path)) as f:
        f.write(b"two\n")
    assert path.read_bytes() == b"one\ntwo\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_symlink_at_the_log_path_is_refused_and_its_target_untouched(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    os.symlink(outside, tmp_path / "train.log")
    with pytest.raises(UserInputError, match=r"train.log: is a symlink"):
        open_for_append(str(tmp_path / "train.log"))
    assert outside.read_bytes() == b"precious"


def test_a_fifo_or_a_directory_at_the_log_path_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.log")
    with pytest.raises(UserInputError, match=r"fifo.log: not a regular file"):
        open_for_append(str(tmp_path / "fifo.log"))
    (tmp_path / "dir.log").mkdir()
    with pytest.raises(UserInputError, match=r"dir.log: not a regular file"):
        open_for_append(str(tmp_path / "dir.log"))

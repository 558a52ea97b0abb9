import os
import stat

import pytest

from iwo_tf.io import read_json, safe_file_component, write_bytes_atomic, write_json_atomic


def test_write_json_atomic_round_trip_and_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_json_atomic(str(tmp_path / "sub" / "a.json"), {"a": [1, 2]})
    finally:
        os.umask(old)
    assert read_json(path) == {"a": [1, 2]}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.listdir(tmp_path / "sub") == ["a.json"]  # no temporary left behind


def test_write_does_not_follow_a_symlink(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    link = tmp_path / "figure.png"
    link.symlink_to(outside)
    write_bytes_atomic(str(link), b"png")
    assert outside.read_text() == "keep me"
    assert not link.is_symlink() and link.read_bytes() == b"png"


def test_non_finite_json_is_refused(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(str(tmp_path / "x.json"), {"a": float("inf")})
    assert not os.listdir(tmp_path)


def test_filesystem_url_works_end_to_end():
    write_json_atomic("ram://iwo-io-test/d/x.json", {"b": 2})
    assert read_json("ram://iwo-io-test/d/x.json") == {"b": 2}


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ".hidden", "", "..", "x" * 500, "ok_name-1.2"])
def test_safe_file_component_stays_in_its_directory(name):
    safe = safe_file_component(name)
    assert safe and "/" not in safe and not safe.startswith(".") and len(safe) <= 120
    if name == "ok_name-1.2":
        assert safe == name
    assert safe_file_component("a/b") != safe_file_component("a_b")


def test_a_file_in_the_way_of_a_directory_is_one_line_naming_it(tmp_path):
    from iwo_tf.errors import UserInputError
    from iwo_tf.io import makedirs

    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserInputError, match=r"afile: cannot create this directory: it exists and is not a directory"):
        makedirs(str(tmp_path / "afile"))
    with pytest.raises(UserInputError, match=r"afile/sub/deeper: cannot create this directory: .*/afile is not a directory"):
        makedirs(str(tmp_path / "afile" / "sub" / "deeper"))
    with pytest.raises(UserInputError, match=r"afile: cannot create this directory"):
        write_json_atomic(str(tmp_path / "afile" / "out.json"), {})
    assert (tmp_path / "afile").read_text() == "x"


def test_writing_onto_an_existing_directory_is_one_line_and_leaves_it(tmp_path):
    from iwo_tf.errors import UserInputError

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("x")
    with pytest.raises(UserInputError, match=r"out: is a directory; give a file name"):
        write_json_atomic(str(tmp_path / "out"), {})
    assert sorted(os.listdir(tmp_path)) == ["out"] and (tmp_path / "out" / "keep").read_text() == "x"

"""No .npy file can run code: object arrays are read through an unpickler that only builds numpy arrays."""
import os

import numpy as np
import pytest

from iwo_tf.data.convert import convert
from iwo_tf.data.layouts import wtalc
from iwo_tf.data.safe_npy import UnsafeNpyError, load_npy
from iwo_tf.errors import UserInputError

from .conftest import STREAM_DIMS, fake_features


class _WritesAFile:
    """Pickles to a call of `builtins.open(target, 'w')`: running the pickle creates the file."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


class _RunsAShellCommand:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _malicious_npy(path, payload):
    """A valid-looking object .npy whose pickle stream holds `payload` as one element."""
    array = np.empty(3, object)
    array[0], array[1], array[2] = np.zeros((2, 8), np.float32), payload, np.ones((2, 8), np.float32)
    np.save(path, array, allow_pickle=True)
    return str(path)


@pytest.mark.parametrize("payload_class", [_WritesAFile, _RunsAShellCommand])
def test_a_crafted_npy_is_refused_without_running_its_payload(tmp_path, payload_class):
    target = tmp_path / "pwned"
    path = _malicious_npy(tmp_path / "evil.npy", payload_class(str(target)))
    with pytest.raises(UnsafeNpyError, match="refused") as raised:
        load_npy(path, allow_objects=True)
    assert not target.exists()
    message = str(raised.value)
    assert "\n" not in message and path in message and "np.save" in message  # one line, the file, a re-save recipe
    assert isinstance(raised.value, UserInputError)


def test_the_wtalc_reader_refuses_a_crafted_feature_file_without_running_it(tmp_path, shared_data):
    annotations = shared_data / "thumos14" / "Thumos14reduced-Annotations"
    target = tmp_path / "pwned"
    features_npy = _malicious_npy(tmp_path / "Thumos14reduced-I3D-JOINTFeatures.npy", _WritesAFile(str(target)))
    with pytest.raises(UnsafeNpyError, match=r"io\.open"):
        convert("wtalc", str(tmp_path / "out"), stream_dims=STREAM_DIMS, features_npy=features_npy,
                annotations_dir=str(annotations), progress=False)
    assert not target.exists() and not (tmp_path / "out").exists()


def test_a_crafted_annotation_npy_is_refused(tmp_path, shared_data):
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    for name in os.listdir(shared_data / "thumos14" / "Thumos14reduced-Annotations"):
        (annotations / name).write_bytes((shared_data / "thumos14" / "Thumos14reduced-Annotations" / name).read_bytes())
    target = tmp_path / "pwned"
    segments = np.load(annotations / "segments.npy", allow_pickle=True)  # the genuine test file
    segments[5] = _WritesAFile(str(target))
    np.save(annotations / "segments.npy", segments, allow_pickle=True)
    with pytest.raises(UnsafeNpyError, match="segments.npy"):
        wtalc.read(str(tmp_path / "missing-features.npy"), str(annotations))
    assert not target.exists()


def test_genuine_wtalc_object_arrays_still_load(tmp_path, shared_data):
    annotations = shared_data / "thumos14" / "Thumos14reduced-Annotations"
    for name in ("segments", "labels", "labels_all"):
        expected = np.load(annotations / f"{name}.npy", allow_pickle=True)
        got = load_npy(str(annotations / f"{name}.npy"), allow_objects=True)
        assert got.dtype == object and got.shape == expected.shape
        assert [list(map(list, r)) if name == "segments" else list(r) for r in got] == \
               [list(map(list, r)) if name == "segments" else list(r) for r in expected]
    rows = np.empty(4, object)
    for i in range(4):
        rows[i] = fake_features(np.random.default_rng(i))
    np.save(tmp_path / "joint.npy", rows, allow_pickle=True)
    got = load_npy(str(tmp_path / "joint.npy"), allow_objects=True)
    for a, b in zip(got, rows):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_object_arrays_are_refused_where_numbers_are_expected(tmp_path):
    rows = np.empty(1, object)
    rows[0] = np.zeros((2, 2))
    np.save(tmp_path / "x.npy", rows, allow_pickle=True)
    with pytest.raises(UnsafeNpyError, match="object array"):
        load_npy(str(tmp_path / "x.npy"))


def test_a_fifo_named_npy_is_refused_instead_of_hanging(tmp_path):
    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeNpyError, match="FIFO"):
        load_npy(str(fifo))


def test_plain_arrays_round_trip(tmp_path):
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(load_npy(str(tmp_path / "x.npy")), x)
    (tmp_path / "bad.npy").write_bytes(b"not an npy")
    with pytest.raises(UnsafeNpyError, match="not a valid .npy"):
        load_npy(str(tmp_path / "bad.npy"))


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY"])
def test_empty_and_headless_files_are_refused_in_one_line(tmp_path, content):
    (tmp_path / "x.npy").write_bytes(content)
    with pytest.raises(UnsafeNpyError, match=r"x.npy: not a valid .npy file"):
        load_npy(str(tmp_path / "x.npy"))


def test_a_body_shorter_than_its_header_says_is_refused_in_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((50, 4), np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[: len(data) - 100])
    with pytest.raises(UnsafeNpyError, match=r"x.npy: not a readable .npy array"):
        load_npy(str(tmp_path / "x.npy"))


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "not a valid .npy file"),
    (lambda p: p.write_text("0.1 0.2\n"), "not a valid .npy file"),
    (lambda p: np.save(p, np.zeros((3, 4), np.complex64)), r"expected \[T, 4\] real numbers, got shape \[3, 4\] of complex64"),
    (lambda p: np.save(p, np.zeros((3, 4), bool)), r"expected \[T, 4\] real numbers, got shape \[3, 4\] of bool"),
    (lambda p: np.save(p, np.zeros((3, 4, 1), np.float32)), r"got shape \[3, 4, 1\]"),
    (lambda p: np.save(p, np.zeros((3, 5), np.float32)), r"expected \[T, 4\] real numbers, got shape \[3, 5\]"),
    (lambda p: None, "not found"),
])
def test_feature_matrices_are_read_safely_with_one_line_errors(tmp_path, make, message):
    from iwo_tf.data.safe_npy import load_feature_matrix

    path = tmp_path / "clip.npy"
    make(path)
    with pytest.raises(UserInputError, match=message) as raised:
        load_feature_matrix(str(path), 4)
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)


def test_feature_matrices_come_back_as_float32(tmp_path):
    from iwo_tf.data.safe_npy import load_feature_matrix

    np.save(tmp_path / "clip.npy", np.arange(12, dtype=np.int16).reshape(3, 4))
    features = load_feature_matrix(str(tmp_path / "clip.npy"))
    assert features.dtype == np.float32 and features.shape == (3, 4) and features[2, 3] == 11

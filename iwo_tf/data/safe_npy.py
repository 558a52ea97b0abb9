"""Reads `.npy` files without ever running code from them.

A plain `.npy` (numeric dtype) is read with `np.load(..., allow_pickle=False)`. An object array (the
W-TALC joint feature file and annotation npys are these) is stored as a pickle stream, and
numpy's pickle-enabled load would let that stream call any Python function. Here the stream is
read by `_ArrayOnlyUnpickler`, which resolves exactly the globals numpy's own array pickles use
(`numpy.core.multiarray._reconstruct` / `numpy._core.multiarray._reconstruct`, `numpy.ndarray`,
`numpy.dtype`) and refuses every other global (`os.system`, `builtins.eval`, numpy scalars, ...)
before anything is called. What it can build is therefore only arrays, lists, tuples, dicts, strings,
bytes and numbers.

Every file is opened without blocking and checked to be a regular file first, so a FIFO or a device
named `x.npy` is refused instead of hanging the reader.
"""
from __future__ import annotations

import io
import os
import pickle
import stat
from typing import Optional

import numpy as np
from numpy.lib import format as npy_format

from iwo_tf.errors import UserInputError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

RESAVE_RECIPE = (
    "if you trust the file, re-save it once as plain arrays: in a Python session you trust, load FILE with "
    "numpy's allow_pickle option switched on, turn each row into a plain numeric array (np.asarray) and "
    "np.save the rows as an object array of arrays under the same name"
)


class UnsafeNpyError(UserInputError):
    """An `.npy` file that cannot be read without running code from it, or that is not a regular file.

    Args:
        path: the file.
        problem: what is wrong, one line.
    """

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Resolves only numpy's array-reconstruction globals; anything else is refused, never imported."""

    def __init__(self, file, *, path: str, encoding: str):
        super().__init__(file, encoding=encoding)
        self._path = path

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeNpyError(
                self._path,
                f"refused: its pickled data asks for {module}.{name}, which is not numpy array data "
                f"(only plain numpy arrays, lists and strings are read, no code is run); {RESAVE_RECIPE.replace('FILE', self._path)}",
            ) from None

    def persistent_load(self, pid):
        raise UnsafeNpyError(self._path, "refused: its pickled data uses persistent ids, which plain numpy arrays never do")


def open_regular_file(path: str, expected: str = "a regular .npy file"):
    """Opens `path` for binary reading without blocking; refuses anything but a regular file.

    Args:
        path: the file.
        expected: what the file should be, for the message.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeNpyError: it is a FIFO, a device, a socket or a directory.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise UnsafeNpyError(path, f"refused: it is {kind}, expected {expected}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_header(f, path: str):
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            return npy_format.read_array_header_1_0(f)
        return npy_format.read_array_header_2_0(f) if version == (2, 0) else npy_format._read_array_header(f, version)
    except (ValueError, EOFError, SyntaxError) as error:
        raise UnsafeNpyError(path, f"not a valid .npy file: {error}") from error


def _unpickle_array(f, path: str, shape) -> np.ndarray:
    array = _ArrayOnlyUnpickler(f, path=path, encoding="ASCII").load()
    if not isinstance(array, np.ndarray) or type(array) is not np.ndarray:
        raise UnsafeNpyError(path, f"not a .npy array: its pickled data holds a {type(array).__name__}")
    if array.shape != tuple(shape):
        raise UnsafeNpyError(path, f"the pickled array has shape {array.shape}, the header says {tuple(shape)}")
    return array


def load_npy(path: str, *, allow_objects: bool = False) -> np.ndarray:
    """Loads one `.npy` file; never runs code from it.

    Args:
        path: the file.
        allow_objects: read an object array (its pickle stream restricted to numpy array data);
            False refuses object arrays.

    Returns:
        The array.

    Raises:
        FileNotFoundError: no such file.
        UnsafeNpyError: not a regular file, not an .npy file, an object array when not allowed, or
            pickled data that asks for anything but numpy arrays (the message has a re-save recipe).
    """
    path = os.fspath(path)
    with open_regular_file(path) as f:
        start = f.tell()
        shape, _, dtype = _read_header(f, path)
        if not dtype.hasobject:
            f.seek(start)
            try:
                return np.load(f, allow_pickle=False)
            except (ValueError, EOFError) as error:  # e.g. a body shorter than its header says
                raise UnsafeNpyError(path, f"not a readable .npy array: {error}") from error
        if not allow_objects:
            raise UnsafeNpyError(path, f"refused: an object array (dtype {dtype}) where plain numbers are expected")
        try:
            return _unpickle_array(f, path, shape)
        except UnsafeNpyError:
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError, io.UnsupportedOperation) as error:
            raise UnsafeNpyError(path, f"its pickled object array cannot be read ({type(error).__name__}: {error}); "
                                       f"{RESAVE_RECIPE.replace('FILE', path)}") from error


def load_feature_matrix(path: str, feature_dim: Optional[int] = None) -> np.ndarray:
    """A `.npy` of snippet features as float32 `[T, D]`, read by `load_npy` (never unpickling).

    Values are not checked here (NaN, Inf): the converter and the exported signatures check them
    with their own messages.

    Raises:
        UserInputError: a missing, unreadable or non-`.npy` file, or anything but a 2-D array of real
            numbers (of width `feature_dim` when given), in one line naming the file.
    """
    path = os.fspath(path)
    try:
        array = load_npy(path)
    except FileNotFoundError:
        raise UserInputError(f"{path}: not found") from None
    real = np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    width = "D" if feature_dim is None else str(int(feature_dim))
    if array.ndim != 2 or not real or array.dtype == np.bool_ or (feature_dim is not None and array.shape[1] != feature_dim):
        raise UserInputError(f"{path}: expected [T, {width}] real numbers, got shape {list(array.shape)} of {array.dtype}")
    return array.astype(np.float32)

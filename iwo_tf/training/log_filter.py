"""Drops known-harmless TensorFlow start-up and tf.data log lines from the process's stderr.

TensorFlow's C++ logging writes straight to file descriptor 2, before and beside Python's logging,
so `TF_CPP_MIN_LOG_LEVEL` cannot select lines: level 2 keeps every ERROR, and some harmless lines are
ERRORs. The lines dropped here, each seen on every CPU run of TF 2.21:

- `node_def_util.cc ... NodeDef mentions attribute use_unbounded_threadpool which is not in the op
  definition: Op<name=MapDataset ...` (~700 characters, one per traced tf.data pipeline): logged when
  the training step's `tf.function` traces the input pipeline; tf.data's Python `map` records an
  attribute that the C++ MapDataset op definition it is validated against does not declare. The
  attribute is unused; the pipeline runs as built.
- `port.cc ... oneDNN custom operations are on ...` (an information notice).
- `WARNING: All log messages before absl::InitializeLog() is called are written to STDERR`.
- `cudart_stub.cc ... Could not find cuda drivers` and `cuda_platform.cc ... failed call to cuInit`
  on machines without a GPU (the run's first line says which devices it uses instead).

`install_stderr_filter` redirects fd 2 through a pipe read by a thread that forwards every other
line unchanged to the original stderr; call it before importing TensorFlow.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Sequence

KNOWN_HARMLESS = (
    b"NodeDef mentions attribute use_unbounded_threadpool",
    b"oneDNN custom operations are on",
    b"All log messages before absl::InitializeLog() is called are written to STDERR",
    b"cudart_stub.cc",
    b"failed call to cuInit",
)


def is_harmless(line: bytes, patterns: Sequence[bytes] = KNOWN_HARMLESS) -> bool:
    """True for a log line that `install_stderr_filter` drops."""
    return any(pattern in line for pattern in patterns)


_installed = False


def install_stderr_filter(patterns: Sequence[bytes] = KNOWN_HARMLESS) -> bool:
    """Filters the process's fd 2 (once per process); returns False when it was already installed."""
    global _installed
    if _installed:
        return False
    _installed = True
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb", buffering=0) as source:
            pending = b""
            while True:
                chunk = source.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = b"".join(line + b"\n" for line in lines if not is_harmless(line, patterns))
                if kept:
                    os.write(original, kept)
            if pending and not is_harmless(pending, patterns):
                os.write(original, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)  # closes the pipe's last write end: the pump sees EOF and drains
        thread.join(timeout=5)

    atexit.register(restore)
    return True


def quiet_tensorflow_logs() -> None:
    """What a command does before it imports TensorFlow: the C++ INFO and WARNING logs off
    (`TF_CPP_MIN_LOG_LEVEL=2` unless the user set it) and the known-harmless lines above filtered out
    of stderr, so that a user error is the one line the command prints."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    install_stderr_filter()

"""File I/O every part of the project shares: atomic writes, safe names, locks."""
from iwo_tf.io.append_files import open_for_append
from iwo_tf.io.atomic_files import (
    is_url,
    makedirs,
    read_json,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from iwo_tf.io.safe_names import safe_file_component

__all__ = [
    "is_url",
    "makedirs",
    "open_for_append",
    "read_json",
    "safe_file_component",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

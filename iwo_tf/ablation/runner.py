"""Runs ablation variants as `train.py` runs, resumably, each in `<workdir>/<table>/<variant>`.

- A finished variant (its `results.json` exists) is reused; an unfinished one is started again with
  the same workdir, and train.py resumes it from its last checkpoint.
- `ablation_variant.json` in each variant directory records the flags that made it; running again
  with other flags into the same directory is refused (use a new --workdir).
- Variants whose flags are identical (e.g. every table's control is the dataset's own config) are
  trained once: the later ones hold `same_run.json` naming the directory of the run they share.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from iwo_tf.ablation.variant import Variant
from iwo_tf.errors import UserInputError
from iwo_tf.io import open_for_append, read_json, write_json_atomic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_PY = os.path.join(REPO, "train.py")


def config_flag(key: str, value: Any) -> str:
    """`--config.<key>=<value>` in the syntax ml_collections parses (tuples as `(a,b,)`)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (tuple, list)):
        text = "(" + ",".join(str(v) for v in value) + ",)"
    else:
        text = str(value)
    return f"--config.{key}={text}"


def _tail(path: str, lines: int = 6) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class VariantRunner:
    """Trains (or reuses) ablation variants.

    Args:
        dataset: the `--dataset` of train.py.
        data_dir: converted data (None: train.py's default).
        workdir: the ablation study's directory.
        base_flags: `--config.*` flags every variant gets (the user's overrides).
        log: prints one progress line.
    """

    def __init__(self, *, dataset: str, data_dir: Optional[str], workdir: str, base_flags: Sequence[str],
                 log: Callable[[str], None] = print):
        self.dataset = dataset
        self.data_dir = data_dir
        self.workdir = workdir
        self.base_flags = list(base_flags)
        self.log = log
        self.runs: Dict[str, str] = {}  # flags identity -> directory holding the run
        self.failed: List[str] = []
        self._find_earlier_runs()

    def _find_earlier_runs(self) -> None:
        """Registers the finished runs an earlier invocation left (any table), so they are shared too."""
        if not os.path.isdir(self.workdir):
            return
        for table in sorted(os.listdir(self.workdir)):
            table_dir = os.path.join(self.workdir, table)
            if not os.path.isdir(table_dir) or os.path.islink(table_dir):
                continue
            for variant in sorted(os.listdir(table_dir)):
                directory = os.path.join(table_dir, variant)
                record = os.path.join(directory, "ablation_variant.json")
                if os.path.isfile(record) and os.path.isfile(os.path.join(directory, "results.json")):
                    self.runs.setdefault(json.dumps(read_json(record).get("flags")), directory)

    def _flags(self, variant: Variant) -> List[str]:
        return self.base_flags + ["--config.export.enabled=false"] + [
            config_flag(key, value) for key, value in sorted(variant.overrides.items())
        ]

    def command(self, directory: str, variant: Variant) -> List[str]:
        """The train.py command line of a variant."""
        data = [f"--data_dir={self.data_dir}"] if self.data_dir else []
        return [sys.executable, TRAIN_PY, f"--dataset={self.dataset}", *data, f"--workdir={directory}",
                *self._flags(variant)]

    def results(self, table: str, variant: Variant) -> Optional[dict]:
        """The variant's results.json document, training it first if needed; None if training failed."""
        directory = os.path.join(self.workdir, table, variant.name)
        name = f"{table}/{variant.name}"
        flags = self._flags(variant)
        identity = json.dumps(flags)
        record_path = os.path.join(directory, "ablation_variant.json")
        if os.path.exists(record_path) and read_json(record_path).get("flags") != flags:
            raise UserInputError(f"{record_path}: this variant was run with other flags "
                                 f"({read_json(record_path).get('flags')}); use a new --workdir")
        shared = self.runs.get(identity)
        if shared is not None and shared != directory and not os.path.exists(record_path):
            write_json_atomic(os.path.join(directory, "same_run.json"),
                              {"run": os.path.relpath(shared, directory), "flags": flags})
            self.log(f"[{name}] same configuration as {os.path.relpath(shared, self.workdir)}: reused")
            return self._read(shared)
        write_json_atomic(record_path, {"flags": flags, "command": self.command(directory, variant)})
        self.runs[identity] = directory
        results_path = os.path.join(directory, "results.json")
        if os.path.exists(results_path):
            self.log(f"[{name}] finished earlier: reused {results_path}")
            return self._read(directory)
        log_path = os.path.join(directory, "train.log")
        resumed = os.path.isdir(os.path.join(directory, "checkpoints"))
        self.log(f"[{name}] {'resuming' if resumed else 'training'} (log: {log_path})")
        began = time.monotonic()
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        with open_for_append(log_path) as log_file:
            code = subprocess.call(self.command(directory, variant), stdout=log_file, stderr=subprocess.STDOUT,
                                   env=env, cwd=os.getcwd())
        if code != 0 or not os.path.exists(results_path):
            self.failed.append(name)
            self.log(f"[{name}] FAILED (exit status {code}); the end of {log_path}:\n{_tail(log_path)}")
            return None
        results = self._read(directory)
        final = results.get("final", {}).get("wo_testing")
        summary = f": avg mAP {100 * final['average_mAP']:.1f} (winners-out testing)" if final else ""
        self.log(f"[{name}] done in {time.monotonic() - began:.0f} s{summary}")
        return results

    @staticmethod
    def _read(directory: str) -> dict:
        return read_json(os.path.join(directory, "results.json"))

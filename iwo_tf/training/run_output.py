"""What a training run prints: stage lines with durations, per-step mAP when known, an ETA, a closing block.

On a terminal each epoch shows a Keras progress bar. Anywhere else (a pipe, a file, a CI log) each
epoch is ONE plain line without ANSI codes or carriage returns, so `train.py > log.txt` stays readable.
The ETA covers the whole run: remaining epochs at the mean epoch time so far, plus every stage still
to come (removal, testing, evaluation, figures) at the mean duration it has had so far.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def epoch_line(wo_step: int, num_wo_steps: int, epoch: int, epochs_per_step: int, logs: Mapping[str, float],
               seconds: float, eta: Optional[float], prefix: str = "") -> str:
    """The plain one-line summary of a finished epoch (1-based step and epoch numbers)."""
    parts = [f"loss {logs['loss/total']:.4f}", f"ce {logs['loss/cross_entropy']:.4f}"]
    if "accuracy" in logs:
        parts.append(f"accuracy {logs['accuracy']:.3f}")
    if "learning_rate" in logs:
        parts.append(f"lr {logs['learning_rate']:.3g}")
    timing = f"{seconds:.1f} s" + (f"; run ETA {format_duration(eta)}" if eta is not None else "")
    return f"{prefix}WO step {wo_step}/{num_wo_steps}, epoch {epoch}/{epochs_per_step}: {', '.join(parts)} ({timing})"


def map_line(label: str, metrics: Mapping, thresholds: Sequence[float]) -> str:
    """`WO-step 1, winners-out testing: avg mAP 24.8 (0.10: 42.2, 0.30: 17.2, 0.50: 15.0)`."""
    values = ", ".join(f"{float(t):.2f}: {100 * v:.1f}" for t, v in zip(thresholds, metrics["mAP"]))
    return f"{label}: avg mAP {100 * metrics['average_mAP']:.1f} ({values})"


class RunOutput:
    """Prints a run's progress for a person; keeps the timings that make the ETA.

    Args:
        total_epochs: epochs of the whole run (all winners-out steps, all schedules).
        stream: where to print (default: stdout).
        enabled: False prints nothing (non-chief workers, tests).
        is_tty: force terminal or plain mode (default: `stream.isatty()`).
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(self, total_epochs: int, stream=None, enabled: bool = True, is_tty: Optional[bool] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = enabled
        if is_tty is None:
            isatty = getattr(self.stream, "isatty", None)
            is_tty = bool(isatty and isatty())
        self.is_tty = is_tty
        self.clock = clock
        self.start = clock()
        self.total_epochs = int(total_epochs)
        self.epochs_done = 0
        self.epoch_seconds = 0.0
        self.stage_seconds: Dict[str, list] = {}
        self.stages_left: Dict[str, int] = {}

    def print(self, text: str = "") -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)

    # --- the ETA -----------------------------------------------------------------------------
    def expect(self, stage: str, count: int) -> None:
        """Declares how many more times `stage` will run (for the ETA)."""
        self.stages_left[stage] = max(0, int(count))

    def plan(self, *, train_steps: int, epochs_per_step: int, done: Tuple[int, int], every_step: bool,
             testing_modes: int) -> None:
        """What a winners-out run still has to do (a resumed run skips what it did), for the ETA.

        Args:
            train_steps: winners-out training steps.
            epochs_per_step: epochs per step.
            done: `(wo_step, epoch)` already trained (0-based step, epochs done in it).
            every_step: whether the run tests after every step (else after the last only).
            testing_modes: testing modes per evaluation.
        """
        wo_step, epoch = done
        self.skip_epochs(wo_step * epochs_per_step + epoch)
        evaluations = train_steps - wo_step if every_step else 1
        self.expect("testing", evaluations * testing_modes)
        self.expect("evaluation", evaluations * testing_modes)
        self.expect("figures", evaluations)
        self.expect("removal", train_steps - 1 - wo_step)

    def skip_epochs(self, count: int) -> None:
        """Epochs a resumed run does not train again (they leave the ETA)."""
        self.total_epochs = max(0, self.total_epochs - int(count))

    def eta_seconds(self) -> Optional[float]:
        """Seconds the rest of the run should take; None before the first epoch has been timed."""
        if self.epochs_done == 0:
            return None
        remaining = (self.total_epochs - self.epochs_done) * self.epoch_seconds / self.epochs_done
        for stage, count in self.stages_left.items():
            durations = self.stage_seconds.get(stage)
            if durations and count > 0:
                remaining += count * sum(durations) / len(durations)
        return max(0.0, remaining)

    # --- epochs --------------------------------------------------------------------------------
    def epoch_started(self, wo_step: int, num_wo_steps: int, epoch: int, epochs_per_step: int, steps: int,
                      prefix: str = ""):
        """Starts an epoch (1-based numbers); returns a Keras Progbar on a terminal, else None."""
        self._epoch_start = self.clock()
        if not (self.enabled and self.is_tty):
            return None
        import keras

        eta = self.eta_seconds()
        note = f" (run ETA {format_duration(eta)})" if eta is not None else ""
        self.print(f"{prefix}Winners-out step {wo_step}/{num_wo_steps}, epoch {epoch}/{epochs_per_step}{note}")
        return keras.utils.Progbar(steps, stateful_metrics=["lr"], verbose=1)

    def epoch_finished(self, wo_step: int, num_wo_steps: int, epoch: int, epochs_per_step: int,
                       logs: Mapping[str, float], prefix: str = "") -> None:
        """Ends an epoch: times it and, off a terminal, prints its one plain line."""
        seconds = self.clock() - self._epoch_start
        self.epochs_done += 1
        self.epoch_seconds += seconds
        if not self.is_tty:
            self.print(epoch_line(wo_step, num_wo_steps, epoch, epochs_per_step, logs, seconds, self.eta_seconds(), prefix))

    # --- stages --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def stage(self, stage: str, detail: str = ""):
        """Times a stage (`removal`, `testing`, `evaluation`, `figures`, `export`) and prints its line."""
        began = self.clock()
        yield
        seconds = self.clock() - began
        self.stage_seconds.setdefault(stage, []).append(seconds)
        if stage in self.stages_left:
            self.stages_left[stage] = max(0, self.stages_left[stage] - 1)
        eta = self.eta_seconds()
        suffix = f"; run ETA {format_duration(eta)}" if eta is not None and eta >= 1 else ""
        self.print(f"[{format_duration(self.clock() - self.start):>6}] {stage}{f' ({detail})' if detail else ''}: "
                   f"{seconds:.1f} s{suffix}")

    def step_map(self, label: str, metrics: Mapping, thresholds: Sequence[float]) -> None:
        """Prints one testing mode's mAP as soon as it is known."""
        self.print("  " + map_line(label, metrics, thresholds))


def closing_block(workdir: str, entries: Iterable[Tuple[str, str]], seconds: Optional[float] = None) -> str:
    """Where the run wrote everything: one line per existing path (relative to the workdir) and what it is."""
    workdir = os.path.abspath(workdir)
    head = f"Run finished in {format_duration(seconds)}. " if seconds is not None else ""
    lines = [f"{head}Written under {workdir}:"]
    present = [(path, what) for path, what in entries if os.path.exists(os.path.join(workdir, path))]
    width = max((len(path) for path, _ in present), default=0)
    for path, what in present:
        lines.append(f"  {path:<{width}}  {what}")
    return "\n".join(lines)

"""Each training epoch's input, the next one built while the current one trains."""
from __future__ import annotations

import concurrent.futures
from typing import Callable, Optional, Tuple


class EpochInputs:
    """Iterators over `build(seed)`, one epoch at a time.

    Building an epoch's input (tracing its functions, drawing its order, reading its first batches)
    takes a few tenths of a second and, done when the epoch starts, adds to every epoch. `prepare`
    starts building the next epoch's iterator in a background thread while the current epoch's steps
    run; `iterator` then hands it over. The iterator is the one `iter(build(seed))` gives, so the
    batches are the same either way. Prepare only an epoch whose input cannot change before it
    starts: the trainer prepares the next epoch of the same winners-out step (keep-masks change
    between steps).

    Args:
        build: `seed -> dataset` (distributed or not).
        background: False builds each iterator when it is asked for (multi-worker runs, where input
            creation stays on the thread that runs the steps).
    """

    def __init__(self, build: Callable[[int], object], background: bool = True):
        self._build = build
        self._executor = (
            concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="iwo-epoch-input") if background else None
        )
        self._pending: Optional[Tuple[int, concurrent.futures.Future]] = None

    def _iterator(self, seed: int):
        return iter(self._build(seed))

    def prepare(self, seed: int) -> None:
        """Starts building the iterator of the epoch with `seed` (nothing without a background thread)."""
        if self._executor is not None:
            self._pending = (seed, self._executor.submit(self._iterator, seed))

    def wait(self) -> None:
        """Blocks until the prepared epoch's input is built (benchmarks keep that time in the epoch
        they time; a run does not need it)."""
        if self._pending is not None:
            concurrent.futures.wait([self._pending[1]])

    def iterator(self, seed: int):
        """The iterator of the epoch with `seed`: the prepared one, or built now."""
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == seed:
            return pending[1].result()  # a failure while building is raised here
        return self._iterator(seed)


def epoch_seed(config, wo_step: int, epoch: int) -> int:
    """The shuffle and sampling seed of training epoch `epoch` of winners-out step `wo_step`."""
    return int(config.seed) * 100_003 + wo_step * 1_009 + epoch

"""One ablation variant: a name, a label for the table and the config overrides that make it."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional


@dataclasses.dataclass(frozen=True)
class Variant:
    """A run of an ablation.

    Args:
        name: directory name under `<workdir>/<table>/` (letters, digits, `_`, `-`).
        label: how the table names it.
        overrides: dotted config keys and values relative to the dataset's config.
        axis_value: for sweeps (M, K), the x value of the plot.
        control: True for the run every other variant of the table is compared with.
    """

    name: str
    label: str
    overrides: Dict[str, Any]
    axis_value: Optional[float] = None
    control: bool = False

"""The export-time settings of the serving signatures."""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

# I3D features at 25 fps with 16-frame snippets, the THUMOS14 / ActivityNet convention of the paper.
DEFAULT_SNIPPET_STRIDE_SEC = 16.0 / 25.0


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """Winners-out testing settings baked into an export, and the defaults of its optional inputs.

    Args:
        num_steps: default N_step of Algorithm 2 (the `num_steps` input overrides it per request).
        top_q: the static maximum number of classes localized per video; it fixes the output
            size `top_q * ceil(K / 2)`. The `top_q` input may ask for fewer, never more.
        segments_per_step: default p.
        stream_weights: the Eq. 10 fusion weights, e.g. `(1.0, 10.0)`; None weighs streams equally.
        score_method: `"csc"` (the paper) or `"attention"`.
        snippet_stride_sec: default seconds between snippets of raw features (`localize`).
        snippet_offset_sec: default start time of the first snippet (`localize`).
    """

    num_steps: int = 10
    top_q: int = 2
    segments_per_step: int = 30
    stream_weights: Optional[Sequence[float]] = None
    score_method: str = "csc"
    snippet_stride_sec: float = DEFAULT_SNIPPET_STRIDE_SEC
    snippet_offset_sec: float = 0.0

    def __post_init__(self):
        if self.num_steps < 0 or self.segments_per_step < 0:
            raise ValueError(f"num_steps and segments_per_step must be >= 0, got {self.num_steps}, {self.segments_per_step}")
        if self.top_q < 1:
            raise ValueError(f"top_q must be >= 1, got {self.top_q}")
        if self.score_method not in ("csc", "attention"):
            raise ValueError(f"score_method must be 'csc' or 'attention', got {self.score_method!r}")
        if self.stream_weights is not None:
            object.__setattr__(self, "stream_weights", tuple(float(w) for w in self.stream_weights))

    def to_json(self) -> dict:
        """A JSON-serialisable dict (for the export's metadata file)."""
        out = dataclasses.asdict(self)
        out["stream_weights"] = None if self.stream_weights is None else list(self.stream_weights)
        return out

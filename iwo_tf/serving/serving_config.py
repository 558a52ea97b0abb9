"""The localization settings of serving and export, and their defaults: the one place they live."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Optional, Sequence

from iwo_tf.errors import UserInputError
from iwo_tf.model.iwo_classifier import SCORE_METHODS

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
        snippet_stride_sec: default seconds between snippets of raw features (`localize`), > 0.
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
        if int(self.num_steps) < 0 or int(self.segments_per_step) < 0:
            raise UserInputError(
                f"num_steps and segments_per_step must be >= 0, got {self.num_steps}, {self.segments_per_step}"
            )
        if int(self.top_q) < 1:
            raise UserInputError(f"top_q must be >= 1, got {self.top_q}")
        if self.score_method not in SCORE_METHODS:
            raise UserInputError(f"score_method must be one of {list(SCORE_METHODS)}, got {self.score_method!r}")
        stride, offset = float(self.snippet_stride_sec), float(self.snippet_offset_sec)
        if not math.isfinite(stride) or stride <= 0:
            raise UserInputError(f"snippet_stride_sec must be finite and > 0, got {self.snippet_stride_sec}")
        if not math.isfinite(offset):
            raise UserInputError(f"snippet_offset_sec must be finite, got {self.snippet_offset_sec}")
        for name in ("num_steps", "top_q", "segments_per_step"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "snippet_stride_sec", stride)
        object.__setattr__(self, "snippet_offset_sec", offset)
        if self.stream_weights is not None:
            weights = tuple(float(w) for w in self.stream_weights)
            if not all(math.isfinite(w) for w in weights):
                raise UserInputError(f"stream_weights must be finite, got {list(self.stream_weights)}")
            object.__setattr__(self, "stream_weights", weights)

    @classmethod
    def from_mapping(cls, values: Optional[Mapping[str, Any]] = None, **overrides) -> "ServingConfig":
        """Builds a config from a mapping (e.g. run_config.json's `localization` block) and overrides.

        Keys that are not fields are ignored, and so are None values: they keep the default (or, for
        an override, the mapping's value).
        """
        fields = {field.name for field in dataclasses.fields(cls)}
        settings = {k: v for k, v in dict(values or {}).items() if k in fields and v is not None}
        settings.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(settings) - fields
        if unknown:
            raise TypeError(f"unknown ServingConfig fields: {sorted(unknown)}")
        return cls(**settings)

    def to_json(self) -> dict:
        """A JSON-serialisable dict (for the export's metadata file)."""
        out = dataclasses.asdict(self)
        out["stream_weights"] = None if self.stream_weights is None else list(self.stream_weights)
        return out

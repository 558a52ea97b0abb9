"""Which runs each of the paper's ablation tables needs, each with its control.

Every variant is the dataset's config plus a few overrides. Controls:
- Table III (`wo_steps`) and IV (`wo_train_test`): winners-out training is compared with the same
  schedule and epochs with removal off (p = 0), so "step 2 is better" cannot be "step 2 trained longer".
- Tables V, VI, VII and K: the dataset's own config is the control.
In a sweep of K the removal and selection counts p keep the dataset's p/K.
"""
from __future__ import annotations

import dataclasses
from typing import List, Sequence

from iwo_tf.ablation.variant import Variant

TABLE_NAMES = ("wo_steps", "wo_train_test", "csc_vs_cam", "score_method", "modules", "shifting_bias", "segments")


@dataclasses.dataclass(frozen=True)
class AblationTable:
    """One ablation table.

    Args:
        name: one of `TABLE_NAMES` (also the file names of its markdown and PNG).
        title: the table's heading (with the paper's table number).
        variants: its runs, the control among them.
        per_step: rows per winners-out training step (Table III) instead of the final step.
        axis: the x-axis name of a sweep, or None for a bar chart.
    """

    name: str
    title: str
    variants: List[Variant]
    per_step: bool = False
    axis: str | None = None


def _scaled_p(config, num_segments: int) -> dict:
    base_k = int(config.data.num_segments)
    return {
        "data.num_segments": num_segments,
        "winners_out.segments_per_step": max(1, round(int(config.winners_out.segments_per_step) * num_segments / base_k)),
        "testing.segments_per_step": max(1, round(int(config.testing.segments_per_step) * num_segments / base_k)),
    }


def ablation_tables(config, names: Sequence[str] = TABLE_NAMES, quick: bool = False) -> List[AblationTable]:
    """The tables `names` for a dataset config (`quick`: shorter sweeps, for smoke tests).

    Args:
        config: the dataset's `ConfigDict` (with the user's overrides).
        names: which tables, in `TABLE_NAMES` order.
        quick: two values per sweep instead of five (M) or three (K).
    """
    steps = max(2, int(config.winners_out.train_steps))
    modules = int(config.model.num_modules)
    segments = int(config.data.num_segments)
    m_values = sorted({1, modules} if quick else {1, 4, 8, 18, 30, modules})
    k_values = sorted({segments // 2, segments} if quick else {segments // 2, segments, segments * 2})
    tables = {
        "wo_steps": AblationTable("wo_steps", "Table III: winners-out training steps (against p=0, same schedule)", [
            Variant("winners_out", "winners-out training", {"winners_out.train_steps": 3}),
            Variant("control_p0", "control (p=0)", {"winners_out.train_steps": 3, "winners_out.segments_per_step": 0},
                    control=True),
        ], per_step=True),
        "wo_train_test": AblationTable("wo_train_test", "Table IV: winners-out in training and in testing", [
            Variant("wo_train", f"WO training ({steps} steps)", {"winners_out.train_steps": steps}),
            Variant("control_p0", f"control: {steps} steps, p=0",
                    {"winners_out.train_steps": steps, "winners_out.segments_per_step": 0}, control=True),
            Variant("no_wo_train", "no WO training (1 step)", {"winners_out.train_steps": 1}),
        ]),
        "csc_vs_cam": AblationTable("csc_vs_cam", "Table V: CSC (attention) against CAM (mean pooling)", [
            Variant("csc", "CSC (group attention)", {}, control=True),
            Variant("cam", "CAM (mean pooling)", {"model.pooling": "mean"}),
        ]),
        "score_method": AblationTable("score_method", "CSC scores against class-agnostic attention scores", [
            Variant("csc", "CSC scores", {}, control=True),
            Variant("attention", "attention scores", {"winners_out.score_method": "attention"}),
        ]),
        "modules": AblationTable("modules", "Table VI: number of attention modules M", [
            Variant(f"m{m}", f"M={m}", {"model.num_modules": m} if m != modules else {}, axis_value=m,
                    control=m == modules) for m in m_values
        ], axis="M (attention modules)"),
        "shifting_bias": AblationTable("shifting_bias", "Table VII: the shifting bias beta", [
            Variant("off", "without shifting bias", {}, control=True),
            Variant("on", "with shifting bias", {"model.use_shifting_bias": True}),
        ]),
        "segments": AblationTable("segments", "Fig. 8: number of segments K (p/K kept)", [
            Variant(f"k{k}", f"K={k}", _scaled_p(config, k) if k != segments else {}, axis_value=k, control=k == segments)
            for k in k_values if k >= 2
        ], axis="K (segments)"),
    }
    unknown = [n for n in names if n not in tables]
    if unknown:
        raise ValueError(f"unknown ablation table {unknown[0]!r}; choose from {', '.join(TABLE_NAMES)}")
    return [_without_no_ops(config, tables[n]) for n in TABLE_NAMES if n in names]


def _without_no_ops(config, table: AblationTable) -> AblationTable:
    """Drops overrides that set a value the config already has (so identical runs are recognised)."""
    def current(key):
        section, name = key.split(".")
        return config[section][name]

    variants = [dataclasses.replace(v, overrides={k: x for k, x in v.overrides.items() if current(k) != x})
                for v in table.variants]
    return dataclasses.replace(table, variants=variants)

"""Markdown tables and PNG plots of ablation results (read from each variant's results.json)."""
from __future__ import annotations

import io
from typing import Dict, List, Mapping, Optional, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from iwo_tf.ablation.plan import AblationTable  # noqa: E402
from iwo_tf.training.run_dir import TESTING_MODES  # noqa: E402



def mode_label(name: str) -> str:
    """A readable name for a testing mode key of results.json."""
    return TESTING_MODES.get(name, name.replace("_", " "))


def table_rows(table: AblationTable, results: Mapping[str, Optional[dict]]) -> List[Tuple[str, str, str, dict]]:
    """`(variant name, run label, testing label, metrics)` for every row of the table."""
    rows = []
    for variant in table.variants:
        document = results.get(variant.name)
        if not document:
            continue
        if table.per_step:
            for label, metrics in document.get("rows", {}).items():
                if label.endswith("winners-out testing") and label.startswith("WO-step "):
                    step = label.split(",")[0].replace("WO-step ", "")
                    rows.append((variant.name, f"{variant.label}, after step {step}", "winners-out testing", metrics))
        else:
            for mode, metrics in document.get("final", {}).items():
                rows.append((variant.name, variant.label, mode_label(mode), metrics))
    return rows


def markdown_table(table: AblationTable, results: Mapping[str, Optional[dict]], thresholds) -> str:
    """The table as markdown: mAP (%) per tIoU threshold, the average, and its difference to the control."""
    control = next((v for v in table.variants if v.control), None)
    control_avg: Dict[str, float] = {}
    rows = table_rows(table, results)
    for name, label, testing, metrics in rows:
        if control is not None and name == control.name:
            key = testing if not table.per_step else label.split("after ")[-1]
            control_avg[key] = metrics["average_mAP"]
    head = ["run", "testing", *[f"mAP@{float(t):.2f}" for t in thresholds], "avg", "avg - control"]
    lines = [f"### {table.title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, label, testing, metrics in rows:
        key = testing if not table.per_step else label.split("after ")[-1]
        delta = ""
        if control is not None and name != control.name and key in control_avg:
            delta = f"{100 * (metrics['average_mAP'] - control_avg[key]):+.1f}"
        elif control is not None and name == control.name:
            delta = "(control)"
        values = [f"{100 * v:.1f}" for v in metrics["mAP"]]
        lines.append("| " + " | ".join([label, testing, *values, f"{100 * metrics['average_mAP']:.1f}", delta]) + " |")
    missing = [v.name for v in table.variants if not results.get(v.name)]
    if missing:
        lines += ["", f"Missing (failed or not run): {', '.join(missing)}"]
    lines += ["", "Runs (overrides of the dataset config):"]
    for variant in table.variants:
        overrides = ", ".join(f"{k}={v}" for k, v in sorted(variant.overrides.items())) or "none"
        lines.append(f"- `{table.name}/{variant.name}`: {overrides}")
    return "\n".join(lines) + "\n"


def plot_png(table: AblationTable, results: Mapping[str, Optional[dict]]) -> bytes:
    """Average mAP of each run: bars per run and testing mode, lines for sweeps and per-step tables."""
    rows = table_rows(table, results)
    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=100)
    if table.per_step:
        for variant in table.variants:
            points = [(int(label.rsplit(" ", 1)[-1]), 100 * m["average_mAP"]) for n, label, _, m in rows if n == variant.name]
            if points:
                ax.plot(*zip(*sorted(points)), marker="o", label=variant.label)
        ax.set_xlabel("winners-out training step")
        ax.xaxis.get_major_locator().set_params(integer=True)
    elif table.axis:
        modes = sorted({testing for _, _, testing, _ in rows})
        values = {v.name: v.axis_value for v in table.variants}
        for mode in modes:
            points = sorted((values[n], 100 * m["average_mAP"]) for n, _, t, m in rows if t == mode)
            ax.plot(*zip(*points), marker="o", label=mode)
        ax.set_xlabel(table.axis)
    else:
        modes = sorted({testing for _, _, testing, _ in rows})
        labels = [v.label for v in table.variants if results.get(v.name)]
        width = 0.8 / max(1, len(modes))
        for i, mode in enumerate(modes):
            heights = [next((100 * m["average_mAP"] for n, lab, t, m in rows if lab == label and t == mode), 0.0)
                       for label in labels]
            positions = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(labels))]
            bars = ax.bar(positions, heights, width=width, label=mode)
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("average mAP (%)")
    ax.set_title(table.title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()

"""Runs the paper's ablations, each with its control, and writes a markdown table and a plot per table.

    python -m iwo_tf.ablations --dataset=synthetic --workdir=runs/ablations
    python -m iwo_tf.ablations --dataset=thumos14 --data_dir=data/thumos14 --workdir=runs/abl_thumos \\
        --tables=wo_steps,wo_train_test --config.winners_out.epochs_per_step=15

Tables (`--tables`, default all): wo_steps (Table III, against the p=0 control on the same schedule),
wo_train_test (Table IV), csc_vs_cam (Table V), score_method (CSC against attention scores),
modules (Table VI, M), shifting_bias (Table VII), segments (Fig. 8, K). Each variant is a train.py
run in `<workdir>/<table>/<variant>` (its `train.log` beside it); the study is resumable: run the same
command again and finished variants are reused, unfinished ones resume from their checkpoints.
Writes `<workdir>/<table>.md`, `<workdir>/<table>.png` and `<workdir>/ablations.md`.
`--config.<section>.<key>=<value>` applies to every run; `--quick` shortens sweeps and epochs.
"""
from __future__ import annotations

import importlib
import os

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()

from absl import app, flags

from configs import DATASETS, define_config_flag
from iwo_tf.ablation.runner import VariantRunner, config_flag
from iwo_tf.errors import UserInputError, exit_on_user_error

_DATASET = flags.DEFINE_enum("dataset", "synthetic", DATASETS, "Which configs/<dataset>.py the runs start from.")
_CONFIG = define_config_flag("The dataset's config; --config.<key>=<value> overrides apply to every run.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Converted data (default: train.py's data/<dataset>).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the runs, tables and plots go.")
_TABLES = flags.DEFINE_list("tables", [], "Tables to run (default: all): wo_steps, wo_train_test, csc_vs_cam, "
                            "score_method, modules, shifting_bias, segments.")
_QUICK = flags.DEFINE_bool("quick", False, "Smoke test: two values per sweep and a quarter of the epochs.")


def _flatten(config, prefix=""):
    items = {}
    for key, value in config.items():
        if hasattr(value, "items"):
            items.update(_flatten(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = tuple(value) if isinstance(value, list) else value
    return items


def user_flags(config, dataset: str) -> list:
    """`--config.*` flags for every value of `config` that differs from configs/<dataset>.py."""
    defaults = _flatten(importlib.import_module(f"configs.{dataset}").get_config())
    return [config_flag(key, value) for key, value in sorted(_flatten(config).items())
            if key not in ("data_dir",) and defaults.get(key) != value]


def run_ablations() -> int:
    """Runs the study for the parsed flags; returns the number of variants that failed."""
    from iwo_tf.ablation import TABLE_NAMES, ablation_tables
    from iwo_tf.ablation.report import markdown_table, plot_png
    from iwo_tf.io import write_bytes_atomic, write_text_atomic

    if not _WORKDIR.value:
        raise UserInputError("--workdir=DIR is required (the runs, tables and plots go there)")
    config = _CONFIG.value
    if config.dataset != _DATASET.value:
        raise UserInputError(f"--dataset={_DATASET.value} but the config is for {config.dataset}")
    names = _TABLES.value or list(TABLE_NAMES)
    try:
        tables = ablation_tables(config, names, quick=_QUICK.value)
    except ValueError as error:
        raise UserInputError(f"--tables: {error}") from None
    base = user_flags(config, _DATASET.value)
    if _QUICK.value and not any(f.startswith("--config.winners_out.epochs_per_step=") for f in base):
        base.append(config_flag("winners_out.epochs_per_step", max(1, int(config.winners_out.epochs_per_step) // 4)))
    workdir = os.path.abspath(_WORKDIR.value)
    runner = VariantRunner(dataset=_DATASET.value, data_dir=_DATA_DIR.value, workdir=workdir, base_flags=base)
    print(f"Ablations of {_DATASET.value} in {workdir}: {', '.join(t.name for t in tables)}"
          f" ({sum(len(t.variants) for t in tables)} variants){'; flags: ' + ' '.join(base) if base else ''}")
    sections = []
    for table in tables:
        results = {variant.name: runner.results(table.name, variant) for variant in table.variants}
        present = [r for r in results.values() if r]
        if not present:
            continue
        thresholds = present[0]["tiou_thresholds"]
        markdown = markdown_table(table, results, thresholds)
        write_text_atomic(os.path.join(workdir, f"{table.name}.md"), markdown)
        write_bytes_atomic(os.path.join(workdir, f"{table.name}.png"), plot_png(table, results))
        sections.append(markdown)
        print(f"\n{markdown}(written to {os.path.join(workdir, table.name)}.md and .png)")
    if sections:
        write_text_atomic(os.path.join(workdir, "ablations.md"), "\n".join(sections))
    if runner.failed:
        print(f"\n{len(runner.failed)} variant(s) failed: {', '.join(runner.failed)}; run the same command again "
              "to resume them")
    return len(runner.failed)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    failed = exit_on_user_error(run_ablations)
    if failed:
        raise SystemExit(1)


def run():
    """Entry point of the `iwo-ablations` console script (setup.py)."""
    from iwo_tf.training.log_filter import install_stderr_filter

    install_stderr_filter()
    app.run(main)


if __name__ == "__main__":
    app.run(main)

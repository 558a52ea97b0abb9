"""`python -m iwo_tf.ablations`: the plan of runs, the tables, and a small study end to end (resumable)."""
import subprocess
import sys

import pytest
from PIL import Image

from iwo_tf.ablation import TABLE_NAMES, ablation_tables
from iwo_tf.ablation.report import markdown_table
from tests.training.conftest import REPO, subprocess_env, tiny_settings


def _synthetic_config():
    from configs import synthetic

    return synthetic.get_config()


def test_every_table_has_a_control_and_no_override_repeats_the_config():
    config = _synthetic_config()
    tables = ablation_tables(config)
    assert [t.name for t in tables] == list(TABLE_NAMES)
    for table in tables:
        assert sum(v.control for v in table.variants) == 1, table.name
        for variant in table.variants:
            for key, value in variant.overrides.items():
                section, name = key.split(".")
                assert config[section][name] != value, (table.name, variant.name, key)
    by_name = {t.name: t for t in tables}
    control = next(v for v in by_name["wo_steps"].variants if v.control)
    assert control.overrides == {"winners_out.train_steps": 3, "winners_out.segments_per_step": 0}
    # The dataset's own config is the control of Table V; in Table IV WO training with 2 steps is it too.
    assert next(v for v in by_name["csc_vs_cam"].variants if v.control).overrides == {}
    assert next(v for v in by_name["wo_train_test"].variants if v.name == "wo_train").overrides == {}
    k400 = next(v for v in by_name["segments"].variants if v.name == "k400")
    assert k400.overrides == {"data.num_segments": 400, "winners_out.segments_per_step": 30, "testing.segments_per_step": 30}
    with pytest.raises(ValueError, match="unknown ablation table 'nope'"):
        ablation_tables(config, ["nope"])


def test_markdown_table_gives_each_row_its_difference_to_the_control():
    table = ablation_tables(_synthetic_config(), ["shifting_bias"])[0]

    def doc(wo, single):
        return {"final": {"wo_testing": {"mAP": [wo, wo], "average_mAP": wo},
                          "single_step_testing": {"mAP": [single, single], "average_mAP": single}}}

    text = markdown_table(table, {"off": doc(0.30, 0.20), "on": doc(0.25, 0.22)}, [0.1, 0.5])
    lines = text.splitlines()
    assert "| run | testing | mAP@0.10 | mAP@0.50 | avg | avg - control |" in lines
    assert "| without shifting bias | winners-out testing | 30.0 | 30.0 | 30.0 | (control) |" in lines
    assert "| with shifting bias | winners-out testing | 25.0 | 25.0 | 25.0 | -5.0 |" in lines
    assert "| with shifting bias | single-step testing | 22.0 | 22.0 | 22.0 | +2.0 |" in lines
    assert "- `shifting_bias/on`: model.use_shifting_bias=True" in lines


def _ablations(data_dir, workdir, *extra):
    flags = []
    for dotted, value in tiny_settings({}).items():
        value = "(" + ",".join(str(v) for v in value) + ",)" if isinstance(value, tuple) else value
        flags.append(f"--config.{dotted}={value}")
    command = [sys.executable, "-m", "iwo_tf.ablations", "--dataset=synthetic", f"--data_dir={data_dir}",
               f"--workdir={workdir}", *flags, *extra]
    return subprocess.run(command, cwd=str(REPO), env=subprocess_env(), capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_a_small_study_writes_its_table_and_plot_and_resumes(tiny_data_dir, tmp_path):
    workdir = tmp_path / "ablations"
    result = _ablations(tiny_data_dir, workdir, "--tables=shifting_bias")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for variant in ("off", "on"):
        assert (workdir / "shifting_bias" / variant / "results.json").exists()
        assert (workdir / "shifting_bias" / variant / "train.log").exists()
    markdown = (workdir / "shifting_bias.md").read_text()
    assert "| without shifting bias | winners-out testing |" in markdown and "(control)" in markdown
    assert "| with shifting bias | single-step testing |" in markdown
    assert Image.open(workdir / "shifting_bias.png").format == "PNG"
    assert (workdir / "ablations.md").read_text().strip() == markdown.strip()
    # Again, with one more table: the finished variants are reused, the shared control is not retrained.
    (workdir / "shifting_bias" / "on" / "results.json").unlink()  # an interrupted variant: resumes
    result = _ablations(tiny_data_dir, workdir, "--tables=shifting_bias,score_method")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "[shifting_bias/off] finished earlier: reused" in result.stdout
    assert "[shifting_bias/on] resuming" in result.stdout
    assert "[score_method/csc] same configuration as shifting_bias/off: reused" in result.stdout
    assert (workdir / "shifting_bias" / "on" / "results.json").exists()
    assert "| attention scores | winners-out testing |" in (workdir / "score_method.md").read_text()
    # The same workdir with other flags is refused, in one line.
    result = _ablations(tiny_data_dir, workdir, "--tables=shifting_bias", "--config.seed=5")
    assert result.returncode == 2 and "use a new --workdir" in result.stderr and "Traceback" not in result.stderr

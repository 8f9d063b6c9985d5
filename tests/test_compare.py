"""Comparison: aggregation statistics, figures, report, budgets, parallel runs, resume, plot."""

from __future__ import annotations

import csv
import math
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from rulelab.cli import main
from rulelab.output.results import mean_ci95, paired_test, summarize
from rulelab.run.runner import RunRecord
from tests.conftest import ROOT


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_mean_and_interval_by_hand():
    mean, std, half = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert std == pytest.approx(math.sqrt(5 / 3))
    assert half == pytest.approx(3.182446305284263 * math.sqrt(5 / 3) / 2)  # t(0.975, 3) · s / √n


def test_paired_t_test_by_hand():
    reference = {0: 0.5, 1: 0.6, 2: 0.7}
    other = {0: 0.6, 1: 0.8, 2: 0.75}
    diff, p, n = paired_test(reference, other)
    d = np.array([0.1, 0.2, 0.05])
    t = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    from scipy import stats

    assert n == 3 and diff == pytest.approx(d.mean())
    assert p == pytest.approx(2 * stats.t.sf(abs(t), 2))
    assert p == pytest.approx(0.11808, abs=1e-4)
    # Only seeds both finished count; identical results are no evidence of a difference.
    assert paired_test({0: 1.0, 1: 1.0}, {0: 1.0, 1: 1.0, 2: 0.0}) == (0.0, 1.0, 2)


def test_summary_on_a_synthetic_table(write_scenario, gates_scenario):
    from rulelab.scenario import load_scenario

    gates_scenario["repeats"] = 3
    scenario = load_scenario(write_scenario(gates_scenario))

    def record(label, seed, acc, status="converged", epoch=4):
        r = RunRecord(label, label, "error-correcting", seed, status, criterion_epoch=epoch if status == "converged"
                      else None, criterion_forward_passes=16 if status == "converged" else None,
                      forward_passes=16, wall_seconds=0.5)
        r.rows = [(0, "train_accuracy", 0.5), (epoch, "train_accuracy", acc)]
        return r

    records = [record("perceptron", s, a) for s, a in zip((0, 1, 2), (1.0, 1.0, 0.75))]
    records += [record("delta", 0, 1.0), record("delta", 1, 0.5, "not_converged", 20),
                record("delta", 2, float("nan"), "diverged", 3)]
    rows = {r["rule"]: r for r in summarize(scenario, records)}
    p = rows["perceptron"]
    assert p["metric"] == "train_accuracy" and p["mean"] == pytest.approx(0.916667, abs=1e-6)
    assert p["best"] == 1.0 and p["worst"] == 0.75 and p["converged"] == "3/3"
    assert p["vs_reference"] == "reference"
    d = rows["delta"]
    assert d["mean"] == 0.75 and d["diverged"] == "1/3" and d["converged"] == "1/3"
    assert d["difference"] == pytest.approx(-0.25)  # paired over seeds 0 and 1 only (seed 2 is NaN)
    assert "diverged (NaN, infinite or unbounded weights) on 1/3 seeds" in d["note"]


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "xor"
    result = invoke("run", ROOT / "scenarios" / "xor.yaml", "--out", out, "--quiet", "--repeats", "3",
                    "--set", "train.epochs=300")
    assert result.exit_code == 0, result.output
    return out


def test_every_figure_kind_from_a_small_run(xor_run):
    from rulelab.output.report import plot_run

    run = plot_run(xor_run, svg=True)
    names = set(run.objects)
    # Forward passes per epoch differ (the strategies pay members × rows): that figure is made.
    # Wall time is not budgeted here: no wall-time curves (the summary has the seconds).
    assert names == {"learning-curves", "learning-curves-forward-passes", "decision-boundaries", "es-fitness"}
    for name in names:
        assert (xor_run / "figures" / f"{name}.png").is_file() and (xor_run / "figures" / f"{name}.svg").is_file()
    curves = run.objects["learning-curves"]
    accuracy_axes = curves.axes[0]
    assert len(accuracy_axes.get_lines()) == 5  # one mean line per rule …
    assert [t.get_text() for t in accuracy_axes.get_legend().get_texts()] == run.labels
    colors = {line.get_label(): line.get_color() for line in accuracy_axes.get_lines()}
    per_pass = run.objects["learning-curves-forward-passes"].axes[0]
    assert {line.get_label(): line.get_color() for line in per_pass.get_lines()} == colors  # … same colours
    assert per_pass.get_xlabel().startswith("forward passes")
    assert len(run.objects["decision-boundaries"].axes) == 6 and \
        sum(ax.axison for ax in run.objects["decision-boundaries"].axes) == 5  # one panel per rule
    es_axes = run.objects["es-fitness"].axes[0]
    assert len(es_axes.get_lines()) == 4  # best and mean for openai_es and cma_es


def test_report_is_self_contained(xor_run):
    html = (xor_run / "report.html").read_text()
    pngs = sorted((xor_run / "figures").glob("*.png"))
    assert html.count("<figure") == len(pngs) == 4
    assert html.count("data:image/png;base64,") == 4
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    assert "<td class=\"\">backprop</td>" in html
    # Read like a results section: mean ± CI in one cell, 3 significant digits, p-values in words.
    import re

    table = html[html.index("<table>"):html.index("</table>")]
    cells = re.findall(r"<td class=\"\">([^<]*)</td>", table)
    assert any(re.fullmatch(r"[0-9.]+ ± [0-9.]+", c) for c in cells)
    for number in re.findall(r"(?<![\w.])\d+\.\d+", table):
        assert len(number.replace(".", "").lstrip("0")) <= 3, number  # no 0.9166666 in the report
    assert "p = 0.0<" not in table and "p = 0<" not in table
    assert "figcaption><b>learning curves.</b> Accuracy and loss after every epoch" in html


def test_report_renders_in_headless_chromium(xor_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium installed (.ci/run installs one, so CI runs this test)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom"]
    dom = subprocess.run([browser, *flags, (xor_run / "report.html").as_uri()], capture_output=True, text=True,
                         timeout=600).stdout
    assert 'data-figures="4"' in dom
    assert 'data-figures-rendered="4"' in dom  # every embedded PNG decoded


def test_plot_rebuilds_a_saved_run_and_names_missing_files(xor_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(xor_run, copy)
    shutil.rmtree(copy / "figures")
    (copy / "report.html").unlink()
    result = invoke("plot", copy)
    assert result.exit_code == 0 and (copy / "report.html").is_file()
    assert len(list((copy / "figures").glob("*.png"))) == 4
    (copy / "metrics.csv").unlink()
    result = invoke("plot", copy)
    assert result.exit_code == 2 and "missing metrics.csv" in result.output
    result = invoke("plot", tmp_path / "nowhere")
    assert result.exit_code == 2 and "no such run directory" in result.output


def _metrics(path):
    with open(path, newline="") as fh:
        return sorted((r["rule"], r["seed"], r["epoch"], r["metric"], r["value"]) for r in csv.DictReader(fh)
                      if r["metric"] != "wall_seconds")


def test_jobs_give_the_same_numbers(tmp_path):
    args = ["--quiet", "--no-plots", "--repeats", "2", "--set", "train.epochs=3",
            "--set", "rules=[{rule: delta, lr: 0.05, network: {layers: [64, 10], activation: softmax}}, "
                     "{rule: openai_es, population: 10, fitness_batch: 256}]"]
    invoke("compare", ROOT / "scenarios" / "digits.yaml", "--out", tmp_path / "one", *args)
    invoke("compare", ROOT / "scenarios" / "digits.yaml", "--out", tmp_path / "two", "--jobs", "2", *args)
    assert _metrics(tmp_path / "one" / "metrics.csv") == _metrics(tmp_path / "two" / "metrics.csv")


def test_resume_runs_only_what_is_missing(tmp_path, monkeypatch):
    out = tmp_path / "run"
    args = [ROOT / "scenarios" / "logic-gates.yaml", "--out", out, "--quiet", "--no-plots"]
    assert invoke("run", *args).exit_code == 0
    full = _metrics(out / "metrics.csv")
    # Pretend two runs were interrupted: drop them from runs.csv.
    lines = (out / "runs.csv").read_text().splitlines()
    (out / "runs.csv").write_text("\n".join(lines[:-2]) + "\n")
    import rulelab.run.runner as runner

    ran = []
    original = runner.run_one
    monkeypatch.setattr(runner, "run_one", lambda sc, spec, seed, data, progress=None:
                        ran.append((spec.label, seed)) or original(sc, spec, seed, data, progress))
    result = invoke("run", *args, "--resume")
    assert result.exit_code == 0 and "resuming: 8 finished runs kept" in result.output
    assert ran == [("perceptron", 4), ("delta", 4)]
    assert _metrics(out / "metrics.csv") == full
    other = invoke("run", *args, "--resume", "--seed", "7")
    assert other.exit_code == 2 and "holds a run of a different scenario" in other.output


def test_budget_in_forward_passes_is_the_same_for_every_rule(write_scenario):
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "digits.yaml", repeats=1, overrides=[
        "train.epochs=1000", "train.budget={forward_passes: 50000}",
        "rules=[{rule: backprop, lr: 0.02}, {rule: openai_es, population: 10, fitness_batch: 100}]"])
    records = run_scenario(scenario)
    assert [r.forward_passes for r in records] == [50000, 50000]
    assert all("budget of 50000 forward passes used" in r.message for r in records)
    assert records[0].epochs_run == 38  # 50000 / 1348 training rows, the last epoch cut short
    bad = {"name": "b", "task": {"dataset": "xor"}, "network": {"layers": [2, 1], "activation": "step"},
           "train": {"budget": {"samples": 10, "wall_seconds": 2}}, "rules": [{"rule": "perceptron"}]}
    from rulelab.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="give exactly one budget unit"):
        load_scenario(write_scenario(bad))


def test_flagship_runs_both_tasks_into_one_report(tmp_path):
    out = tmp_path / "classic"
    result = invoke("run", ROOT / "scenarios" / "classic.yaml", "--out", out, "--quiet", "--repeats", "2",
                    "--set", "train.epochs=20")
    assert result.exit_code == 0, result.output
    for task in ("xor", "moons"):
        assert (out / task / "summary.csv").is_file() and (out / task / "report.html").is_file()
    html = (out / "report.html").read_text()
    assert "Task: xor" in html and "Task: moons" in html
    assert html.count("<figure") == len(list(out.glob("*/figures/*.png")))
    with open(out / "moons" / "summary.csv", newline="") as fh:
        assert [r["rule"] for r in csv.DictReader(fh)] == ["perceptron", "delta", "backprop",
                                                            "feedback_alignment", "openai_es"]


@pytest.mark.parametrize("scenario,overrides,figure,axes_with_content", [
    ("oja-pca.yaml", ["--repeats", "1", "--set", "train.epochs=3"], "pc-angles", 4),  # 3 components + norms
    ("hopfield-capacity.yaml", ["--repeats", "1", "--set", "task.association.loads=[0.05,0.2]",
                                "--set", "task.association.probes=5"], "overlap-vs-load", 1),
    ("hopfield-letters.yaml", ["--repeats", "1", "--set", "task.association.probes=6"], "recall-storkey", 42),
    ("hebbian-digits.yaml", ["--repeats", "1", "--set", "train.epochs=1",
                             "--set", "rules[0].stages[0].epochs=1", "--set", "rules[0].stages[1].epochs=1"],
     "weights-backprop", 32),
    ("activation-maximisation.yaml", ["--set", "train.epochs=1", "--set", "task.optimise.steps=3",
                                      "--set", "task.optimise.units=[0,1,2]"],
     "activation-maximisation-backprop-seed0", 3),
])
def test_more_figure_kinds(tmp_path, scenario, overrides, figure, axes_with_content):
    from rulelab.output.report import plot_run

    out = tmp_path / "run"
    result = invoke("run", ROOT / "scenarios" / scenario, "--out", out, "--quiet", "--no-plots", *overrides)
    assert result.exit_code == 0, result.output
    run = plot_run(out)
    fig = run.objects[figure]
    drawn = [ax for ax in fig.axes if ax.get_images() or ax.get_lines()]
    assert len(drawn) == axes_with_content
    if figure == "overlap-vs-load":
        ax = fig.axes[0]
        assert any(abs(line.get_xdata()[0] - 0.138) < 1e-9 for line in ax.get_lines() if len(line.get_xdata()) == 2)
        rules = [ln for ln in ax.get_lines() if ln.get_label().startswith(("hopfield", "storkey", "pseudo"))]
        assert len(rules) == 6  # 3 storage rules × 2 cue-noise levels


def test_curves_against_cost_only_when_they_show_something(tmp_path):
    from rulelab.output.plots import Run, _axis_informative

    run = Run(tmp_path, {"train": {"budget": {"wall_seconds": 2.0}}}, ["a", "b"], {}, [])
    assert _axis_informative(run, "wall_seconds")
    run.resolved = {"train": {"epochs": 10}}
    assert not _axis_informative(run, "wall_seconds")
    # Forward passes: the same cost per epoch for every rule repeats the per-epoch figure.
    run.metrics = {("a", "forward_passes"): {0: {0: 0, 1: 10, 2: 20}},
                   ("b", "forward_passes"): {0: {0: 0, 1: 10, 2: 20}}}
    assert not _axis_informative(run, "forward_passes")
    run.metrics[("b", "forward_passes")][0] = {0: 0, 1: 400, 2: 800}  # a population pays members × rows
    assert _axis_informative(run, "forward_passes")

"""Sweeps: expansion and validation before any work, executors, streaming, resume, tuning."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from rulelab.cli import main
from rulelab.scenario import ScenarioError
from rulelab.run.executors import LocalExecutor
from rulelab.run.sweep import SweepWriter, load_sweep, run_sweep, write_tables

BASE = {
    "name": "tiny", "seed": 0, "repeats": 2,
    "task": {"kind": "classification", "dataset": {"name": "blobs", "n_samples": 60}, "test_fraction": 0.25},
    "network": {"layers": [2, 4, 1], "activation": "tanh", "output_activation": "sigmoid"},
    "train": {"epochs": 3},
    "rules": [{"rule": "backprop", "lr": 0.1}, {"rule": "delta", "lr": 0.1}],
    "sweep": {"grid": {"rules[0].lr": [0.01, 0.5], "network.layers[1]": [2, 8]}},
}


def sweep_file(write_scenario, **changes):
    raw = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        raw["sweep"][key] = value
    return write_scenario(raw)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_grid_expansion_and_distinct_runs(write_scenario):
    sweep = load_sweep(sweep_file(write_scenario))
    assert [p.settings for p in sweep.points] == [
        {"rules[0].lr": 0.01, "network.layers[1]": 2}, {"rules[0].lr": 0.01, "network.layers[1]": 8},
        {"rules[0].lr": 0.5, "network.layers[1]": 2}, {"rules[0].lr": 0.5, "network.layers[1]": 8}]
    assert sweep.points[2].scenario.rules[0].params.lr == 0.5
    assert sweep.points[3].scenario.rules[1].network.sizes == (2, 8, 1)
    # delta ignores rules[0].lr: it runs at 2 distinct points (hidden sizes), backprop at 4; × 2 seeds.
    assert len(sweep.tasks()) == (4 + 2) * 2
    assert sweep.canonical(2, 1) == 0 and sweep.canonical(2, 0) == 2


def test_random_sample_is_seeded(write_scenario):
    a = load_sweep(sweep_file(write_scenario, random={"samples": 3, "seed": 4}))
    b = load_sweep(sweep_file(write_scenario, random={"samples": 3, "seed": 4}))
    assert len(a.points) == 3 and [p.settings for p in a.points] == [p.settings for p in b.points]


@pytest.mark.parametrize("grid,message", [
    ({"rules[3].lr": [0.1]}, "sweep.grid.rules[3].lr: key path does not exist: rules[3] is out of range (the list has 2 items)"),
    ({"netwrk.layers[1]": [4]}, "sweep.grid.netwrk.layers[1]: key path does not exist: no 'netwrk'"),
    ({"rules[0].lr": []}, "sweep.grid.rules[0].lr: empty list; give at least one value"),
    ({"rules[0].lr": [0.1, -1.0]}, "rules[0].lr: got -1.0; input should be greater than 0 (sweep point rules[0].lr=-1.0)"),
    ({"rules[0].lr": ["fast"]}, "rules[0].lr: got 'fast'; input should be a valid number"),
    ({}, "sweep.grid: got {}"),
])
def test_bad_sweeps_are_refused_before_any_work(write_scenario, grid, message):
    with pytest.raises(ScenarioError) as info:
        load_sweep(sweep_file(write_scenario, grid=grid))
    assert message in info.value.format()


def test_cli_errors_exit_2(write_scenario, tmp_path):
    path = sweep_file(write_scenario)
    result = invoke("sweep", path, "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
    assert invoke("run", path).exit_code == 2  # a sweep file is run with `rulelab sweep`
    raw = json.loads(json.dumps(BASE))
    del raw["sweep"]
    assert "this scenario declares no sweep" in invoke("sweep", write_scenario(raw, "plain.yaml")).output


def _numbers(out):
    return sorted((r["point"], r["rule"], r["seed"], r["epoch"], r["metric"], r["value"]) for r in read(out / "metrics.csv")
                  if r["metric"] != "wall_seconds")


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    path = root / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(BASE))
    out = root / "local"
    result = invoke("sweep", path, "--out", out, "--jobs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    return path, out


def test_local_sweep_writes_every_table(local_sweep):
    path, out = local_sweep
    runs = read(out / "runs.csv")
    assert len(runs) == 12 and {r["status"] for r in runs} == {"completed"}
    grid = read(out / "grid.csv")
    assert len(grid) == 6  # 4 backprop points + 2 distinct delta points
    delta = [g for g in grid if g["rule"] == "delta"]
    assert all(g["rules[0].lr"] == "" for g in delta)  # not a setting of the delta rule
    best = {b["rule"]: b for b in read(out / "best.csv")}
    finals = {}
    for m in read(out / "metrics.csv"):
        if m["metric"] == "test_accuracy":
            finals[(m["point"], m["rule"], m["seed"])] = float(m["value"])
    b = best["backprop"]
    expected = (finals[(b["point"], "backprop", "0")] + finals[(b["point"], "backprop", "1")]) / 2
    assert float(b["mean"]) == pytest.approx(expected)
    assert max(float(g["mean"]) for g in grid if g["rule"] == "backprop") == pytest.approx(float(b["mean"]))
    assert (out / "figures" / "sensitivity.png").is_file() and (out / "figures" / "heatmap.png").is_file()


def test_resume_runs_only_the_missing(local_sweep, tmp_path):
    import shutil

    path, out = local_sweep
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    lines = (copy / "runs.csv").read_text().splitlines()
    (copy / "runs.csv").write_text("\n".join(lines[:-3]) + "\n")
    result = invoke("sweep", path, "--out", copy, "--jobs", "1", "--resume", "--quiet", "--no-plots")
    assert result.exit_code == 0 and "(3 to run)" in result.output
    assert _numbers(copy) == _numbers(out)


def test_dask_gives_the_same_numbers(local_sweep, tmp_path):
    pytest.importorskip("dask.distributed", reason="Dask is an optional extra (pip install 'rulelab[dask]')")
    path, out = local_sweep
    result = invoke("sweep", path, "--out", tmp_path / "dask", "--dask-local", "2", "--quiet", "--no-plots")
    assert result.exit_code == 0, result.output
    assert "on dask workers" in result.output
    assert _numbers(tmp_path / "dask") == _numbers(out)


def test_failing_tasks_are_recorded_and_the_sweep_goes_on(write_scenario, tmp_path):
    raw = json.loads(json.dumps(BASE))
    raw["network"] = {"layers": [2, 1], "activation": "linear"}
    raw["task"]["dataset"]["box"] = 50.0
    raw["train"]["epochs"] = 30
    raw["rules"] = [{"rule": "delta", "lr": 0.1}]
    raw["sweep"] = {"grid": {"rules[0].lr": [0.0001, 10.0]}}  # LMS with a huge step blows up
    sweep = load_sweep(write_scenario(raw))
    writer = SweepWriter(tmp_path / "out", sweep)
    statuses = []
    run_sweep(sweep, writer, LocalExecutor(1), lambda point, record: statuses.append((point, record.status)))
    assert sorted(statuses) == [(0, "completed"), (0, "completed"), (1, "diverged"), (1, "diverged")]
    grid, best = write_tables(tmp_path / "out", sweep, writer)
    assert best[0]["point"] == 0 and grid[1]["diverged"] == 2


def test_select_tunes_on_validation_and_reports_fresh_seeds(write_scenario, tmp_path):
    path = sweep_file(write_scenario, select={"fresh_repeats": 2, "validation_fraction": 0.25})
    sweep = load_sweep(path)
    assert sweep.points[0].scenario.task.validation_fraction == 0.25
    out = tmp_path / "tuned-sweep"
    result = invoke("sweep", path, "--out", out, "--jobs", "1", "--quiet", "--no-plots")
    assert result.exit_code == 0, result.output
    best = {b["rule"]: b for b in read(out / "best.csv")}
    assert best["backprop"]["metric"] == "validation_accuracy"
    tuned = json.loads((out / "tuned" / "manifest.json").read_text())
    assert tuned["seeds"] == [10000, 10001]  # none of them chose the settings
    import yaml

    resolved = yaml.safe_load((out / "tuned" / "scenario.yaml").read_text())
    assert resolved["task"]["validation_fraction"] == 0.0
    assert resolved["rules"][0]["lr"] == json.loads(best["backprop"]["rules[0].lr"])

"""The command line end to end: exit codes, run directory contents, reproducibility."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rulelab.cli import main
from tests.conftest import ROOT


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_version_and_help(cli):
    from rulelab import __version__

    assert __version__ in cli("--version").output
    for command in ("run", "validate", "rules", "datasets"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_rules_and_datasets_listings(cli):
    out = cli("rules").output
    assert "perceptron" in out and "delta" in out and "built-in" in out
    out = cli("datasets").output
    for name in ("and", "or", "nand", "xor", "parity", "blobs", "moons", "circles", "spiral", "digits",
                 "random_patterns", "csv", "npz"):
        assert name in out


def test_rules_listing_keeps_bracketed_text(cli):
    """Equations and defaults are printed as text: rich must not swallow [success] or [4.0, 2.0] as markup."""
    out = cli("rules", "-v").output
    assert "1[success]" in out  # the (1+1)-ES's 1/5 success rule
    assert "σ·exp((1[success] − 1/5)/√(n+1))" in out
    out = cli("datasets").output
    assert "variances=[4.0, 2.0, 1.0, 0.5, 0.25]" in out


def test_bad_input_exits_2_with_one_clear_line(cli, write_scenario, gates_scenario):
    gates_scenario["rules"][0]["lr"] = -1
    path = write_scenario(gates_scenario)
    for command in ("run", "validate"):
        result = cli(command, str(path))
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        assert f"error: {path}: rules[0].lr: got -1; input should be greater than 0" in result.output


def test_bad_option_exits_2(cli):
    result = cli("run", str(ROOT / "scenarios" / "xor.yaml"), "--seed", "-3")
    assert result.exit_code == 2


def test_validate_prints_resolved_scenario(cli):
    result = cli("validate", str(ROOT / "scenarios" / "logic-gates.yaml"), "--set", "rules[0].lr=0.3")
    assert result.exit_code == 0
    resolved = yaml.safe_load(result.output.split("\n", 1)[1])
    assert resolved["rules"][0]["lr"] == 0.3


def test_run_writes_the_run_directory(cli, write_scenario, gates_scenario, tmp_path):
    out = tmp_path / "run"
    result = cli("run", str(write_scenario(gates_scenario)), "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert "perceptron" in result.output and f"results: {out}" in result.output
    for name in ("scenario.yaml", "metrics.csv", "summary.csv", "runs.csv", "weights.npz", "manifest.json"):
        assert (out / name).exists(), name
    rows = read_csv(out / "metrics.csv")
    assert list(rows[0]) == ["rule", "seed", "epoch", "metric", "value"]
    metrics = {r["metric"] for r in rows}
    assert {"train_accuracy", "train_loss", "wall_seconds", "forward_passes", "mistakes", "sse"} <= metrics
    summary = {r["rule"]: r for r in read_csv(out / "summary.csv")}
    assert summary["perceptron"]["converged"] == "2/2" and float(summary["perceptron"]["mean"]) == 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1]
    assert [(r["rule"], r["status"]) for r in manifest["runs"]] == [
        ("perceptron", "converged"), ("delta", "not_converged")] * 2  # sigmoid delta needs > 20 epochs
    assert "numba" in manifest and "rulelab run" in manifest["command"]
    with np.load(out / "weights.npz") as weights:
        assert weights["perceptron/seed0"].shape == (3,)
    # The scenario as run re-validates and runs again.
    assert cli("validate", str(out / "scenario.yaml")).exit_code == 0


def _values(path):
    return [(r["rule"], r["seed"], r["epoch"], r["metric"], r["value"]) for r in read_csv(path)
            if r["metric"] != "wall_seconds"]


def test_same_seed_gives_identical_metrics(cli, tmp_path):
    scenario = str(ROOT / "scenarios" / "digits.yaml")
    args = ["--repeats", "1", "--set", "train.epochs=3", "--quiet"]
    cli("run", scenario, "--out", str(tmp_path / "a"), *args)
    cli("run", scenario, "--out", str(tmp_path / "b"), *args)
    cli("run", scenario, "--out", str(tmp_path / "c"), *args, "--seed", "5")
    a, b, c = (_values(tmp_path / x / "metrics.csv") for x in "abc")
    assert len(a) > 20 and a == b
    assert a != c


def test_float32_run(cli, tmp_path):
    scenario = str(ROOT / "scenarios" / "digits.yaml")
    common = ["--repeats", "1", "--set", "train.epochs=3", "--quiet"]
    cli("run", scenario, "--out", str(tmp_path / "f32"), *common, "--set", "network.dtype=float32")
    cli("run", scenario, "--out", str(tmp_path / "f64"), *common)
    with np.load(tmp_path / "f32" / "weights.npz") as w32, np.load(tmp_path / "f64" / "weights.npz") as w64:
        assert w32["delta/seed0"].dtype == np.float32 and w64["delta/seed0"].dtype == np.float64
        np.testing.assert_allclose(w32["delta/seed0"], w64["delta/seed0"], atol=1e-4)
    s32 = {r["rule"]: float(r["mean"]) for r in read_csv(tmp_path / "f32" / "summary.csv")}
    s64 = {r["rule"]: float(r["mean"]) for r in read_csv(tmp_path / "f64" / "summary.csv")}
    assert s32["delta"] == pytest.approx(s64["delta"], abs=0.01)
    assert s64["delta"] > 0.9  # softmax delta rule on the digits after 3 epochs


def test_interrupted_run_keeps_what_finished(write_scenario, gates_scenario, tmp_path, monkeypatch):
    from rulelab.output.results import RunWriter
    from rulelab.run import online
    from rulelab.run.interrupts import deferred_interrupts, request_interrupt
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    # A 10-epoch run is one compiled call; calls of 4 epochs give it safe points to stop at.
    monkeypatch.setattr(online, "MOST_EPOCHS_PER_CALL", 4)
    gates_scenario["train"] = {"epochs": 10}
    gates_scenario["rules"] = [{"rule": "delta", "label": name, "network": {"activation": "sigmoid"}}
                               for name in ("first", "second")]
    scenario = load_scenario(write_scenario(gates_scenario))
    writer = RunWriter(tmp_path / "run", scenario, "test")
    done = []

    def ctrl_c_in_second_run(epochs: int) -> None:
        done.append(epochs)
        if sum(done) > 10:  # run 1 has 10 epochs: Ctrl-C during run 2
            request_interrupt()

    with deferred_interrupts(), pytest.raises(KeyboardInterrupt) as info:
        run_scenario(scenario, on_record=writer.add, progress=ctrl_c_in_second_run)
    writer.finish(interrupted=True)
    assert [r.status for r in info.value.records] == ["completed", "interrupted"]
    runs = read_csv(tmp_path / "run" / "runs.csv")
    assert [(r["rule"], r["status"]) for r in runs] == [("first", "completed"), ("second", "interrupted")]
    # Acted on at the next safe point: the end of the compiled chunk in which it was pressed.
    assert runs[0]["epochs"] == "10" and runs[1]["epochs"] == "4"
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["interrupted"] is True


def test_failure_in_one_rule_keeps_the_others(write_scenario, gates_scenario, tmp_path, monkeypatch):
    from rulelab.rules.delta import Delta
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    def broken(self, net, rng):
        raise RuntimeError("boom")

    monkeypatch.setattr(Delta, "init_state", broken)
    records = run_scenario(load_scenario(write_scenario(gates_scenario)))
    assert [r.status for r in records] == ["converged", "failed", "converged", "failed"]
    assert records[1].message == "RuntimeError: boom"


def test_diverging_rule_is_reported(write_scenario, gates_scenario):
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    # LMS on a linear unit with a huge step size blows up.
    gates_scenario["task"]["dataset"] = {"name": "blobs", "box": 50.0}
    gates_scenario["network"] = {"layers": [2, 1], "activation": "linear"}
    gates_scenario["rules"] = [{"rule": "delta", "lr": 10.0}]
    gates_scenario["train"] = {"epochs": 50}
    records = run_scenario(load_scenario(write_scenario(gates_scenario)))
    assert {r.status for r in records} == {"diverged"}
    assert "NaN or infinite" in records[0].message and records[0].epochs_run < 50


def test_same_numbers_when_compiled_and_when_loaded_from_the_cache(tmp_path):
    """Two fresh processes: the first compiles every kernel, the second loads them from disk."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    outs = []
    for name in ("compiled", "cached"):
        out = tmp_path / name
        subprocess.run([sys.executable, "-m", "rulelab.cli", "run", str(ROOT / "scenarios" / "digits.yaml"),
                        "--out", str(out), "--quiet", "--no-plots", "--repeats", "1", "--set", "train.epochs=3",
                        "--set", "rules=[{rule: delta, lr: 0.05, network: {layers: [64, 10], activation: softmax}}, "
                                 "{rule: backprop, lr: 0.02}]"],
                       check=True, env=env, capture_output=True, timeout=600)
        outs.append(_values(out / "metrics.csv"))
    assert len(outs[0]) > 30 and outs[0] == outs[1]


def test_pure_python_mode_runs_and_gives_the_compiled_numbers(tmp_path):
    """NUMBA_DISABLE_JIT=1 (stepping through a plug-in with a debugger) runs the same
    scenario as plain Python, with the same order of operations: the same numbers, up to the
    last bit of tanh/exp."""
    import os
    import subprocess
    import sys

    outs = []
    for name, extra in (("compiled", {}), ("python", {"NUMBA_DISABLE_JIT": "1"})):
        out = tmp_path / name
        subprocess.run([sys.executable, "-m", "rulelab.cli", "run", str(ROOT / "scenarios" / "logic-gates.yaml"),
                        "--out", str(out), "--quiet", "--no-plots", "--repeats", "2",
                        "--set", "rules=[{rule: perceptron, lr: 0.1}, {rule: backprop, lr: 0.5, "
                                 "network: {layers: [2, 9, 1], activation: tanh, output_activation: sigmoid}}]"],
                       check=True, env={**os.environ, **extra}, capture_output=True, timeout=600)
        outs.append(_values(out / "metrics.csv"))
    assert len(outs[0]) > 100 and [row[:4] for row in outs[0]] == [row[:4] for row in outs[1]]
    for compiled, python in zip(*outs):
        if compiled[0] == "perceptron":  # arithmetic only: the very same bits
            assert compiled == python
        else:  # tanh/exp: NumPy's scalar functions and the C library's may differ in the last bit
            assert float(python[4]) == pytest.approx(float(compiled[4]), rel=1e-12, abs=1e-15)


def test_a_closed_pipe_is_not_an_error(tmp_path):
    """`rulelab validate FILE | head -1`: once the reader has gone, rulelab stops quietly (exit 0)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("rulelab")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "rulelab.cli"]
    process = subprocess.Popen([*command, "validate", str(ROOT / "scenarios" / "logic-gates.yaml")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before the first line
    err = process.stderr.read()
    assert process.wait(timeout=600) == 0, err
    assert "Traceback" not in err and "internal error" not in err, err


@pytest.mark.parametrize("code, status, stderr", [(None, 0, ""), (2, 2, ""), ("no such file", 1, "no such file\n")])
def test_the_command_leaves_without_teardown_but_with_its_output_and_status(code, status, stderr):
    """entry() ends in _exit_now (os._exit after flushing): buffered output to a pipe still arrives, atexit
    handlers still run, and SystemExit's code becomes the status as the interpreter would make it."""
    import subprocess
    import sys

    script = ("import atexit, sys\n"
              "from rulelab.cli import _exit_now\n"
              "atexit.register(lambda: print('atexit ran'))\n"
              "print('buffered', end='')\n"
              f"_exit_now({code!r})\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert (done.returncode, done.stdout, done.stderr) == (status, "bufferedatexit ran\n", stderr)

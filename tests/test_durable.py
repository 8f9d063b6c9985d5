"""Interrupts and kills: Ctrl-C stops at a safe point and keeps what finished; ``kill -9`` loses only
the runs in flight; ``--resume`` then gives the numbers of an uninterrupted run.

Every test here runs ``rulelab`` as a real subprocess (signals cannot be tested in-process) on
tiny scenarios, so that the whole file stays around a minute on two busy cores.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

# Digits through a 64-8-10 net: 610 parameters × 32 members × 128 rows per generation is above
# the engine's parallel threshold, so fitness runs in the compiled parallel loop (and the noise
# comes from the parallel generator) — where the Ctrl-C that used to crash the process landed.
ES_SCENARIO = {
    "name": "es-interrupts", "seed": 0, "repeats": 3,
    "task": {"kind": "classification", "dataset": "digits"},
    "network": {"layers": [64, 8, 10], "activation": "tanh"},
    "train": {"epochs": 4},
    "rules": [{"rule": "openai_es", "population": 32, "sigma": 0.1, "lr": 0.05, "fitness_batch": 128},
              {"rule": "one_plus_one_es", "sigma": 0.1, "fitness_batch": 256}],
}

ONLINE_TASKS = {
    "name": "two-tasks", "seed": 0, "repeats": 3,
    "network": {"layers": [2, 6, 1], "activation": "tanh", "output_activation": "sigmoid"},
    "train": {"epochs": 40},
    "rules": [{"rule": "backprop", "lr": 0.2}, {"rule": "openai_es", "population": 16, "sigma": 0.2, "lr": 0.1}],
    "tasks": [{"name": "moons", "task": {"kind": "classification", "dataset": {"name": "moons", "n_samples": 200}}},
              {"name": "blobs", "task": {"kind": "classification", "dataset": {"name": "blobs", "n_samples": 200}}}],
}

SWEEP = {
    "name": "sweep-kill", "seed": 0, "repeats": 2,
    "task": {"kind": "classification", "dataset": {"name": "moons", "n_samples": 200}},
    "network": {"layers": [2, 6, 1], "activation": "tanh", "output_activation": "sigmoid"},
    "train": {"epochs": 30},
    "rules": [{"rule": "backprop", "lr": 0.1}, {"rule": "openai_es", "population": 16, "sigma": 0.2, "lr": 0.1}],
    "sweep": {"grid": {"rules[0].lr": [0.05, 0.5], "rules[1].sigma": [0.1, 0.3]}},
}

# The installed console command when there is one (what a user runs), else the same entry point.
_SCRIPT = Path(sys.executable).with_name("rulelab")
RULELAB = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "rulelab.cli"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # Numba's kernel cache needs to be writable
    env["COLUMNS"] = "160"
    return env


def start(*args, cwd: Path) -> subprocess.Popen:
    # A session of its own: the kill tests end the process group (workers included), as a
    # terminal's Ctrl-C or the OOM killer's victim leaves nothing else running.
    return subprocess.Popen([*RULELAB, *map(str, args)], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    # Generous: a first run compiles its kernels (minutes on a busy 2-core machine with a cold cache).
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


def run(*args, cwd: Path) -> tuple[int, str]:
    return finish(start(*args, cwd=cwd))


def without_wall(path: Path) -> list[str]:
    """The lines of a CSV file with wall-clock values blanked (the only numbers that may differ)."""
    lines = path.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    out = [lines[0]]
    for line in lines[1:]:
        row = next(csv.reader([line]))
        if "metric" in header and row[header.index("metric")] == "wall_seconds":
            row[header.index("value")] = "-"
        if "wall_seconds" in header:
            row[header.index("wall_seconds")] = "-"
        out.append(",".join(row))
    return out


def assert_same_results(run_dir: Path, reference: Path) -> None:
    """metrics.csv and runs.csv line for line (wall clock aside), weights.npz byte for byte."""
    assert without_wall(run_dir / "metrics.csv") == without_wall(reference / "metrics.csv")
    assert without_wall(run_dir / "runs.csv") == without_wall(reference / "runs.csv")
    assert (run_dir / "weights.npz").read_bytes() == (reference / "weights.npz").read_bytes()
    assert not (run_dir / "parts").exists()  # merged, then removed


def statuses(run_dir: Path) -> dict[tuple[str, str], str]:
    with open(run_dir / "runs.csv", newline="") as fh:
        return {(r["rule"], r["seed"]): r["status"] for r in csv.DictReader(fh)}


def wait_for(condition, process: subprocess.Popen, timeout: float = 600) -> bool:
    """Poll ``condition`` until true (True) or the process ended first (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("timed out waiting for the run")


@pytest.fixture(scope="module")
def es_reference(tmp_path_factory) -> tuple[Path, Path, float]:
    """The ES scenario run once without interruption: (scenario file, run directory, seconds it ran)."""
    root = tmp_path_factory.mktemp("es")
    path = root / "es.yaml"
    path.write_text(yaml.safe_dump(ES_SCENARIO, sort_keys=False))
    run("run", path, "--out", root / "warm", "--quiet", "--no-plots", cwd=root)  # kernels compiled and cached
    process = start("run", path, "--out", root / "ref", "--quiet", "--no-plots", cwd=root)
    begun = time.monotonic()
    assert wait_for(lambda: (root / "ref" / "metrics.csv").is_file(), process) or process.returncode == 0
    ran_from = time.monotonic()
    code, output = finish(process)
    assert code == 0, output
    return path, root / "ref", max(time.monotonic() - ran_from, 0.5 * (time.monotonic() - begun))


def test_ctrl_c_at_random_moments_of_an_es_run(es_reference, tmp_path):
    """SIGINT at seeded random moments of an ES run, each try resuming the last: always exit 130
    (or 0 when the run finished first), never a crash or a traceback, finished runs kept whole,
    and the last ``--resume`` gives the uninterrupted run's numbers (a try that finished first is
    compared too, and the next try starts afresh).

    The issue asks for about 30 interrupts; each costs a fresh process (2–3 s of start-up and kernel
    loading on two busy cores: 8 tries took 56 s, plus 12 s for the reference runs), so the default
    is 7 to keep this test near a minute; RULELAB_INTERRUPT_TRIES=30 runs the full count.  Delays
    start once the run directory is written (the command is running: before that, Python is still
    importing and its own Ctrl-C handling applies)."""
    path, reference, seconds = es_reference
    tries = int(os.environ.get("RULELAB_INTERRUPT_TRIES", "7"))
    rng = random.Random(15)
    out = tmp_path / "run"
    codes = []
    expected = statuses(reference)
    for attempt in range(tries):
        marker = out / "metrics.csv"
        before = marker.stat().st_mtime_ns if marker.exists() else -1
        args = [path, "--out", out, "--quiet", "--no-plots"] + (["--resume"] if out.exists() else [])
        process = start("run", *args, cwd=tmp_path)
        running = wait_for(lambda: marker.exists() and marker.stat().st_mtime_ns != before, process)
        if running:
            time.sleep(rng.uniform(0.0, seconds))
            process.send_signal(signal.SIGINT)
        code, output = finish(process)
        codes.append(code)
        assert code in (0, 130), f"try {attempt}: exit {code}\n{output}"
        assert "Traceback" not in output and "Error" not in output, output
        if code == 130:
            assert "interrupted:" in output and "--resume" in output, output
            # Every finished run is the uninterrupted run's; at most one was stopped part-way.
            found = statuses(out)
            stopped = [k for k, s in found.items() if s == "interrupted"]
            assert len(stopped) <= 1 and all(s == expected[k] for k, s in found.items() if s != "interrupted")
        else:  # finished before the signal: start a fresh chain, so that every try can interrupt
            assert_same_results(out, reference)
            shutil.rmtree(out)
    code, output = run("run", path, "--out", out, "--quiet", "--no-plots", "--resume", cwd=tmp_path)
    assert code == 0, output
    assert_same_results(out, reference)
    assert 130 in codes  # the delays are within the run: at least one try was interrupted


def test_kill_9_loses_only_the_runs_in_flight(es_reference, tmp_path):
    """SIGKILL once a run has finished: its part is on disk; --resume runs only the rest, and the
    merged files equal an uninterrupted run's (weights.npz byte for byte)."""
    path, reference, _ = es_reference
    out = tmp_path / "run"
    process = start("run", path, "--out", out, "--quiet", "--no-plots", cwd=tmp_path)
    parts = out / "parts"
    assert wait_for(lambda: parts.is_dir() and any(parts.glob("*.npz")), process), "finished before a part"
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    kept = len(list(parts.glob("*.npz")))
    assert kept >= 1 and not list(parts.glob("*.tmp"))
    with np.load(sorted(parts.glob("*.npz"))[0]) as part:  # one part: rows, status and weights together
        assert {"meta", "metrics", "params"} <= set(part.files)
    code, output = run("run", path, "--out", out, "--quiet", "--no-plots", "--resume", cwd=tmp_path)
    assert code == 0, output
    assert f"resuming: {kept} finished runs kept" in output
    assert_same_results(out, reference)


def test_kill_9_then_resume_a_multi_task_file(tmp_path):
    """A file with tasks: [...] runs each task into its own folder; a kill in the second task keeps
    the first whole and the second's finished runs."""
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(ONLINE_TASKS, sort_keys=False))
    common = ["--quiet", "--no-plots"]
    code, output = run("run", path, "--out", tmp_path / "ref", *common, cwd=tmp_path)
    assert code == 0, output
    process = start("run", path, "--out", tmp_path / "run", *common, cwd=tmp_path)
    parts = tmp_path / "run" / "blobs" / "parts"
    assert wait_for(lambda: parts.is_dir() and any(parts.glob("*.npz")), process), "finished before a part"
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    assert (tmp_path / "run" / "moons" / "runs.csv").is_file()  # the first task was merged before the kill
    code, output = run("run", path, "--out", tmp_path / "run", *common, "--resume", cwd=tmp_path)
    assert code == 0, output
    for task in ("moons", "blobs"):
        assert_same_results(tmp_path / "run" / task, tmp_path / "ref" / task)


def test_kill_9_then_resume_a_sweep(tmp_path):
    """A sweep killed once a run is in parts/ resumes to the uninterrupted sweep's metrics and runs."""
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    common = ["--quiet", "--no-plots", "--jobs", "1"]
    code, output = run("sweep", path, "--out", tmp_path / "ref", *common, cwd=tmp_path)
    assert code == 0, output
    process = start("sweep", path, "--out", tmp_path / "run", *common, cwd=tmp_path)
    parts = tmp_path / "run" / "parts"
    assert wait_for(lambda: parts.is_dir() and len(list(parts.glob("*.npz"))) >= 2, process), "finished first"
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and its worker process
    process.communicate()
    kept = len(list(parts.glob("*.npz")))
    code, output = run("sweep", path, "--out", tmp_path / "run", *common, "--resume", cwd=tmp_path)
    assert code == 0, output
    # 4 points; each rule depends on one of the two keys: (2 + 2) distinct settings × 2 seeds.
    assert f"({8 - kept} to run)" in output, output
    for name in ("metrics.csv", "runs.csv"):
        assert without_wall(tmp_path / "run" / name) == without_wall(tmp_path / "ref" / name)
    for name in ("grid.csv", "best.csv"):
        assert (tmp_path / "run" / name).read_text() == (tmp_path / "ref" / name).read_text()
    assert not parts.exists()


def test_weights_npz_is_deterministic(tmp_path):
    """Two writes of the same arrays give the same bytes, and NumPy reads them back."""
    from rulelab.output.results import save_npz

    arrays = {"a/seed0": np.arange(6.0).reshape(2, 3), "a/layout": np.arange(4, dtype=np.int64)}
    save_npz(tmp_path / "one.npz", arrays)
    time.sleep(1.1)  # a zip member's time has 2 s resolution: cross a boundary if the time leaked in
    save_npz(tmp_path / "two.npz", arrays)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    with np.load(tmp_path / "one.npz") as saved:
        np.testing.assert_array_equal(saved["a/seed0"], arrays["a/seed0"])
        assert saved["a/layout"].dtype == np.int64
    assert zipfile.ZipFile(io.BytesIO((tmp_path / "one.npz").read_bytes())).testzip() is None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread signal masks from /proc (Linux)")
def test_compiled_worker_threads_block_sigint():
    """The threads the compiled parallel loops run on are started with SIGINT blocked: the kernel can then
    deliver a Ctrl-C only to the main thread, whose handler sets a flag."""
    code = """
import os, signal
from pathlib import Path
def threads():
    return {int(t.name): (t / 'status').read_text() for t in Path('/proc/self/task').iterdir()}
import numpy, numba
before = threads()
from rulelab.core.population import start_parallel_threads
start_parallel_threads()
after = threads()
new = [tid for tid in after if tid not in before]
blocked = [int(next(l for l in after[t].splitlines() if l.startswith('SigBlk:')).split()[1], 16) >> (signal.SIGINT - 1) & 1
           for t in new]
main = int(next(l for l in after[os.getpid()].splitlines() if l.startswith('SigBlk:')).split()[1], 16)
print(len(new), sum(blocked), main >> (signal.SIGINT - 1) & 1, numba.config.NUMBA_NUM_THREADS)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=900)
    assert done.returncode == 0, done.stderr
    started, blocked, main_blocked, threads = map(int, done.stdout.split())
    assert started >= threads - 1 >= 1 or threads == 1  # the pool (the main thread works too)
    assert blocked == started and main_blocked == 0


def test_resume_from_an_unreadable_run_directory_is_bad_input(write_scenario, gates_scenario, tmp_path):
    """A run directory whose files were edited by hand: exit 2 naming the folder, no traceback."""
    from click.testing import CliRunner

    from rulelab.cli import main

    path = write_scenario(gates_scenario)
    out = tmp_path / "run"
    args = ["run", str(path), "--out", str(out), "--quiet", "--no-plots"]
    assert CliRunner().invoke(main, args).exit_code == 0
    (out / "runs.csv").write_text("rule,seed\nperceptron,zero\n")
    result = CliRunner().invoke(main, [*args, "--resume"])
    assert result.exit_code == 2, result.output
    assert f"{out}: cannot read its finished runs" in result.output and "Traceback" not in result.output


def test_metric_lines_are_epoch_major_csv_with_whole_numbers_and_shortest_floats():
    """metrics.csv's lines of one run, by hand: each epoch's metrics in column order, CSV quoting of the
    label and of a note's name, whole numbers without a point, NaN and tiny floats as Python writes them."""
    from rulelab.output.results import metric_lines
    from rulelab.run.record import MetricBlock, RunRecord

    record = RunRecord("a,b", "backprop", "gradient", 3)
    record.blocks.append(MetricBlock(np.array([1, 2]), ("x", "y"), np.array([[0.5, 3.0], [np.nan, 1e-17]])))
    record.blocks.append(MetricBlock(np.array([], dtype=np.int64), ("x",), np.zeros((0, 1))))
    record.rows.append((2, "note, q", 0.25))
    assert metric_lines(["a,b", 3], record) == ('"a,b",3,1,x,0.5\r\n"a,b",3,1,y,3\r\n"a,b",3,2,x,nan\r\n'
                                                '"a,b",3,2,y,1e-17\r\n"a,b",3,2,"note, q",0.25\r\n')

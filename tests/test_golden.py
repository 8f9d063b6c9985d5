"""Golden metrics: every shipped scenario, shrunk, gives exactly the numbers stored in tests/golden/.

The files were written before the core redesign (issue "Core v2") and must stay
bit-identical: a commit that changes one says which number changed and why, and
updates the file with it (``RULELAB_WRITE_GOLDEN=1 python -m pytest tests/test_golden.py``).
Wall-time rows are left out (they differ on every run); everything else — losses,
accuracies, signals, forward passes, overlaps — is compared as text, digit for digit.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT

GOLDEN = Path(__file__).resolve().parent / "golden"
WRITE = os.environ.get("RULELAB_WRITE_GOLDEN") == "1"

# Each shipped scenario with the overrides that keep it small (a few seeds and epochs).
SHRUNK: dict[str, list[str]] = {
    "activation-maximisation": ["--repeats", "1", "--set", "train.epochs=2", "--set", "task.optimise.steps=20"],
    "adversarial": ["--repeats", "1", "--set", "train.epochs=2", "--set", "task.optimise.samples=3",
                    "--set", "task.optimise.steps=10"],
    "autoencoder": ["--repeats", "1", "--set", "train.epochs=2"],
    "stacked-autoencoder": ["--repeats", "1", "--set", "train.epochs=1"],
    "backprop-worked-example": [],
    "classic": ["--repeats", "2", "--set", "train.epochs=60", "--set", "tasks[1].train.epochs=10"],
    "cnn-digits": ["--repeats", "1", "--set", "train.epochs=2", "--set", "rules[5].stages[0].epochs=1",
                   "--set", "rules[6].stages[0].epochs=1", "--set", "rules[4].population=10"],
    "digits": ["--repeats", "1", "--set", "train.epochs=2"],
    "es-objectives": ["--repeats", "1", "--set", "train.budget.evaluations=200"],
    "es-vs-backprop": ["--repeats", "1", "--set", "train.epochs=2",
                       "--set", "tasks[1].train.budget.forward_passes=60000"],
    "hebbian-digits": ["--repeats", "1", "--set", "train.epochs=2", "--set", "rules[0].stages[0].epochs=1",
                       "--set", "rules[0].stages[1].epochs=2"],
    "hopfield-capacity": ["--repeats", "1", "--set", "task.association.probes=8",
                          "--set", "task.association.loads=[0.05, 0.138, 0.5]"],
    "hopfield-letters": ["--repeats", "2"],
    "hopfield-notes": [],
    "logic-gates": [],
    "mnist1d": ["--repeats", "1", "--set", "train.epochs=2", "--set", "tasks[0].task.dataset.n_samples=500",
                "--set", "tasks[1].task.dataset.n_samples=500"],
    "notes-gates": [],
    "oja-pca": ["--repeats", "2", "--set", "train.epochs=4"],
    "playground": ["--repeats", "1", "--set", "train.epochs=10"],
    "rnn-bptt": ["--repeats", "1", "--set", "train.epochs=2",
                 *[arg for k in range(4) for arg in ("--set", f"tasks[{k}].task.dataset.n_samples=60")]],
    "rnn-mnist1d": ["--repeats", "1", "--set", "train.epochs=1", "--set", "task.dataset.n_samples=100"],
    "xor": ["--repeats", "2", "--set", "train.epochs=150"],
}
SWEEP_SHRUNK = ["--repeats", "1", "--set", "train.epochs=1", "--set", "sweep.select.fresh_repeats=1",
                "--jobs", "1"]
SKIPPED_ROWS = {"wall_seconds"}


def _metrics_text(path: Path, skip_columns: tuple[str, ...] = ()) -> str:
    """metrics.csv without wall-time rows, as text."""
    out = io.StringIO()
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        metric = header.index("metric")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in reader:
            if row[metric] not in SKIPPED_ROWS:
                writer.writerow(row)
    return out.getvalue()


def _run_files(out: Path) -> dict[str, str]:
    """Every metrics.csv under a run directory (one per task of a multi-task file)."""
    return {str(p.relative_to(out).parent).replace(os.sep, "/"): _metrics_text(p)
            for p in sorted(out.rglob("metrics.csv"))}


def _check(name: str, found: dict[str, str]) -> None:
    assert found, f"{name}: the run wrote no metrics.csv"
    for part, text in found.items():
        golden = GOLDEN / (f"{name}.csv" if part == "." else f"{name}--{part.replace('/', '--')}.csv")
        if WRITE:
            golden.parent.mkdir(exist_ok=True)
            golden.write_text(text)
            continue
        assert golden.is_file(), f"no golden file {golden.name}; write it with RULELAB_WRITE_GOLDEN=1"
        expected = golden.read_text()
        if text != expected:
            got, want = text.splitlines(), expected.splitlines()
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            pytest.fail(f"{golden.name}: line {first + 1} differs\n  golden: "
                        f"{want[first] if first < len(want) else '<end>'}\n  now:    "
                        f"{got[first] if first < len(got) else '<end>'}\n  ({len(want)} golden lines, {len(got)} now)")


@pytest.mark.parametrize("name", sorted(SHRUNK))
def test_shipped_scenario_metrics_are_unchanged(name: str, tmp_path: Path) -> None:
    from rulelab.cli import main

    out = tmp_path / name
    result = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / f"{name}.yaml"), "--no-plots", "--quiet",
                                       "--out", str(out), *SHRUNK[name]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    _check(name, _run_files(out))


def test_shipped_sweep_metrics_are_unchanged(tmp_path: Path) -> None:
    from rulelab.cli import main

    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", str(ROOT / "scenarios" / "sweep-digits.yaml"), "--no-plots",
                                       "--quiet", "--out", str(out), *SWEEP_SHRUNK], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    _check("sweep-digits", _run_files(out))


def test_every_shipped_scenario_has_a_golden_file() -> None:
    shipped = {p.stem for p in (ROOT / "scenarios").glob("*.yaml")}
    assert shipped == set(SHRUNK) | {"sweep-digits"}, "add new scenarios to SHRUNK (and write their golden files)"

"""The run directory: plain files a person or a script can read back.

    scenario.yaml   the scenario as run (defaults filled in)
    metrics.csv     tidy long form: rule,seed,epoch,metric,value (written as runs finish)
    summary.csv     one row per rule: final metrics over seeds, convergence, compute
    runs.csv        one row per (rule, seed): status, epochs, criterion, message
    weights.npz     final parameters per (rule, seed), with each network's layout
    manifest.json   versions, command line, seeds, times, status of every run
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import platform
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

from simulator.runner import (CONVERGED, DIVERGED, FAILED, INTERRUPTED, NOT_CONVERGED, RunRecord)
from simulator.scenario import Scenario

METRICS_HEADER = ["rule", "seed", "epoch", "metric", "value"]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    import numba

    from simulator import __version__

    return {
        "rulelab": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }


class RunWriter:
    """Writes a run directory incrementally, so an interrupted run keeps what finished."""

    def __init__(self, out_dir: Path, scenario: Scenario, command: str):
        self.out_dir = Path(out_dir)
        self.scenario = scenario
        self.command = command
        self.started = _now()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "scenario.yaml").write_text(
            yaml.safe_dump(scenario.resolved, sort_keys=False, allow_unicode=True))
        with open(self.out_dir / "metrics.csv", "w", newline="") as fh:
            csv.writer(fh).writerow(METRICS_HEADER)
        self.records: list[RunRecord] = []

    def add(self, record: RunRecord) -> None:
        """Append one finished (rule, seed) run to metrics.csv."""
        self.records.append(record)
        with open(self.out_dir / "metrics.csv", "a", newline="") as fh:
            writer = csv.writer(fh)
            for epoch, metric, value in record.rows:
                writer.writerow([record.label, record.seed, epoch, metric, _fmt(value)])

    def finish(self, interrupted: bool = False) -> list[dict[str, Any]]:
        """Write the summary, per-run table, weights and manifest; return the summary rows."""
        summary = summarize(self.scenario, self.records)
        _write_csv(self.out_dir / "summary.csv", summary)
        _write_csv(self.out_dir / "runs.csv", [run_row(r) for r in self.records])
        self._write_weights()
        self._write_artifacts()
        manifest = {
            **versions(),
            "scenario": self.scenario.name,
            "scenario_file": self.scenario.source,
            "command": self.command,
            "seeds": self.scenario.seeds,
            "started": self.started,
            "finished": _now(),
            "interrupted": interrupted,
            "runs": [{"rule": r.label, "seed": r.seed, "status": r.status, "message": r.message}
                     for r in self.records],
        }
        (self.out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
        return summary

    def _write_artifacts(self) -> None:
        """Optimised inputs and adversarial examples: inputs.npz, and images for image data."""
        arrays = {f"{r.label}/seed{r.seed}/{name}": value
                  for r in self.records for name, value in r.artifacts.items()}
        if not arrays:
            return
        np.savez_compressed(self.out_dir / "inputs.npz", **arrays)
        shape = self.scenario.image_shape
        if shape is None:
            return
        from simulator.plots import image_grid

        figures = self.out_dir / "figures"
        for r in self.records:
            a = r.artifacts
            tag = f"{_safe(r.label)}-seed{r.seed}"
            if "activation_maximisation" in a:
                image_grid(a["activation_maximisation"], shape, figures / f"activation-maximisation-{tag}",
                           [f"unit {u}" for u in a["activation_maximisation_units"]],
                           f"{r.label}, seed {r.seed}: inputs that maximise each unit")
            if "adversarial_originals" in a and len(a["adversarial_originals"]):
                orig, adv = a["adversarial_originals"], a["adversarial_adversarials"]
                eps = a["adversarial_epsilons"]
                titles = [f"{y} → {p}" + (f"\nε={e:.2f}" if np.isfinite(e) else "\nheld")
                          for y, p, e in zip(a["adversarial_labels"], a["adversarial_predicted"], eps)]
                image_grid(np.vstack([orig, adv]), shape, figures / f"adversarial-{tag}",
                           [f"class {y}" for y in a["adversarial_labels"]] + titles,
                           f"{r.label}, seed {r.seed}: originals (top) and adversarial examples (bottom)",
                           columns=len(orig))
                image_grid(adv - orig, shape, figures / f"perturbations-{tag}", titles,
                           f"{r.label}, seed {r.seed}: perturbations", columns=len(orig), symmetric=True)

    def _write_weights(self) -> None:
        arrays: dict[str, np.ndarray] = {}
        for spec in self.scenario.rules:
            arrays[f"{spec.label}/layout"] = spec.network.layout
        for r in self.records:
            if r.params is not None:
                arrays[f"{r.label}/seed{r.seed}"] = r.params
        np.savez_compressed(self.out_dir / "weights.npz", **arrays)


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def _fmt(value: float) -> str:
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()
                                                 and abs(value) < 1e15):
        return str(int(value))
    return repr(float(value))


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        if not rows:
            return
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run_row(r: RunRecord) -> dict[str, Any]:
    return {
        "rule": r.label, "seed": r.seed, "status": r.status, "epochs": r.epochs_run,
        "criterion_epoch": "" if r.criterion_epoch is None else r.criterion_epoch,
        "forward_passes": r.forward_passes, "wall_seconds": round(r.wall_seconds, 6),
        "message": r.message,
    }


def main_metric(scenario: Scenario) -> str:
    """The metric a comparison is judged by: test accuracy, else train accuracy, else a loss."""
    for name in ("test_accuracy", "train_accuracy", "test_loss", "train_loss"):
        if name in scenario.metrics:
            return name
    return scenario.metrics[0]


def mean_ci95(values: Iterable[float]) -> tuple[float, float, float]:
    """(mean, sample std, half-width of the 95 % Student-t confidence interval)."""
    from scipy import stats

    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), 0.0, float("nan")
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, x.size - 1) * std / math.sqrt(x.size))
    return float(x.mean()), std, half


def summarize(scenario: Scenario, records: list[RunRecord]) -> list[dict[str, Any]]:
    """One row per rule: final metrics over seeds, convergence and compute."""
    rows = []
    main = main_metric(scenario)
    for spec in scenario.rules:
        runs = [r for r in records if r.label == spec.label]
        if not runs:
            continue
        finals = [r.final(main) for r in runs if r.status not in (FAILED, INTERRUPTED)]
        lower_is_better = main.endswith("loss")
        pick_best, pick_worst = (min, max) if lower_is_better else (max, min)
        mean, std, half = mean_ci95(finals)
        row: dict[str, Any] = {
            "rule": spec.label, "family": spec.rule.family, "seeds": len(runs),
            "metric": main, "mean": _r(mean), "std": _r(std), "ci95": _r(half),
            "best": _r(pick_best(finals)) if finals else "", "worst": _r(pick_worst(finals)) if finals else "",
        }
        for metric in scenario.metrics:
            if metric != main:
                m, s, _ = mean_ci95(r.final(metric) for r in runs if r.status not in (FAILED, INTERRUPTED))
                row[f"{metric}_mean"], row[f"{metric}_std"] = _r(m), _r(s)
        hit = [r for r in runs if r.criterion_epoch is not None]
        judged = [r for r in runs if r.status in (CONVERGED, NOT_CONVERGED)]
        row["converged"] = _fraction(runs, CONVERGED) if judged else "n/a"
        row["diverged"] = _fraction(runs, DIVERGED)
        row["failed"] = _fraction(runs, FAILED)
        row["epochs_to_criterion"] = _r(np.mean([r.criterion_epoch for r in hit])) if hit else ""
        row["forward_passes_to_criterion"] = (_r(np.mean([r.criterion_forward_passes for r in hit]))
                                              if hit else "")
        row["forward_passes"] = _r(np.mean([r.forward_passes for r in runs]))
        row["wall_seconds"] = _r(np.mean([r.wall_seconds for r in runs]), 4)
        row["note"] = _note(scenario, runs)
        rows.append(row)
    return rows


def _fraction(runs: list[RunRecord], status: str) -> str:
    return f"{sum(r.status == status for r in runs)}/{len(runs)}"


def _r(value: float, digits: int = 6) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return round(float(value), digits)


def _note(scenario: Scenario, runs: list[RunRecord]) -> str:
    """Plain words for what went wrong or did not happen; empty when every seed met the goal."""
    n = len(runs)
    notes = []
    for status, words in ((NOT_CONVERGED, f"did not converge within {scenario.train.epochs} epochs"),
                          (DIVERGED, "diverged (NaN or infinite weights)"),
                          (FAILED, "failed with an error"),
                          (INTERRUPTED, "interrupted")):
        k = sum(r.status == status for r in runs)
        if k:
            notes.append(f"{words} on {k}/{n} seeds")
    failed = [r for r in runs if r.status == FAILED]
    if failed:
        notes.append(f"first error: {failed[0].message}")
    return "; ".join(notes)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.csv as a list of dicts with typed values."""
    with open(Path(run_dir) / "metrics.csv", newline="") as fh:
        return [{"rule": row["rule"], "seed": int(row["seed"]), "epoch": int(row["epoch"]),
                 "metric": row["metric"], "value": float(row["value"])} for row in csv.DictReader(fh)]


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

from rulelab.run.record import CONVERGED, DIVERGED, FAILED, INTERRUPTED, NOT_CONVERGED, RunRecord
from rulelab.scenario import Scenario

METRICS_HEADER = ["rule", "seed", "epoch", "metric", "value"]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    import numba

    from rulelab import __version__

    return {
        "rulelab": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }


class ResumeError(Exception):
    """A run directory cannot be resumed with this scenario."""


class RunWriter:
    """Writes a run directory incrementally, so an interrupted run keeps what finished.

    With ``resume``, the runs already finished in ``out_dir`` are read back (and kept in
    every file); :attr:`done` names them so that only the rest is run.
    """

    def __init__(self, out_dir: Path, scenario: Scenario, command: str, resume: bool = False):
        self.out_dir = Path(out_dir)
        self.scenario = scenario
        self.command = command
        self.started = _now()
        self.records: list[RunRecord] = []
        text = scenario.as_yaml()
        if resume and (self.out_dir / "runs.csv").is_file():
            if (self.out_dir / "scenario.yaml").read_text() != text:
                raise ResumeError(f"{self.out_dir} holds a run of a different scenario (or other settings); "
                                  "resume with the same scenario and options, or choose another --out")
            self.records = load_records(self.out_dir, scenario)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "scenario.yaml").write_text(text)
        with open(self.out_dir / "metrics.csv", "w", newline="") as fh:
            csv.writer(fh).writerow(METRICS_HEADER)
        kept, self.records = self.records, []
        for record in kept:
            self.add(record)

    @property
    def done(self) -> set[tuple[str, int]]:
        return {(r.label, r.seed) for r in self.records}

    def add(self, record: RunRecord) -> None:
        """Append one finished (rule, seed) run to metrics.csv."""
        self.records.append(record)
        with open(self.out_dir / "metrics.csv", "a", newline="") as fh:
            fh.write(metric_lines([record.label, record.seed], record))

    def finish(self, interrupted: bool = False) -> list[dict[str, Any]]:
        """Write the summary, per-run table, weights and manifest; return the summary rows."""
        summary = summarize(self.scenario, self.records)
        _write_csv(self.out_dir / "summary.csv", summary)
        (self.out_dir / "summary.md").write_text(summary_markdown(self.scenario, summary))
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
        """Optimised inputs and adversarial examples: inputs.npz (figures come from rulelab.output.plots)."""
        arrays = {f"{r.label}/seed{r.seed}/{name}": value
                  for r in self.records for name, value in r.artifacts.items()}
        if not arrays:
            return
        np.savez_compressed(self.out_dir / "inputs.npz", **arrays)

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


def format_values(values: np.ndarray) -> list[str]:
    """Values as metrics.csv writes them (as :func:`_fmt`, for a whole array at once): whole numbers
    below 1e15 without a decimal point, everything else as Python's shortest round-trip repr."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(flat) & (flat == np.trunc(flat)) & (np.abs(flat) < 1e15)
    out = np.empty(flat.size, dtype=object)
    out[whole] = list(map(str, flat[whole].astype(np.int64).tolist()))
    out[~whole] = list(map(repr, flat[~whole].tolist()))
    return out.tolist()


def _csv_prefix(fields: list[Any]) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue() + ","


def metric_lines(fields: list[Any], record: RunRecord) -> str:
    """The metrics.csv lines of one run, each ``fields…,epoch,metric,value`` (CSV-quoted where needed)."""
    prefix = _csv_prefix(fields)
    parts: list[str] = []
    for block in record.blocks:
        texts = format_values(block.values)
        width = len(block.names)
        for i, epoch in enumerate(block.epochs.tolist()):
            head = f"{prefix}{epoch},"
            parts.extend(f"{head}{name},{texts[i * width + c]}\r\n" for c, name in enumerate(block.names))
    for epoch, metric, value in record.rows:
        parts.append(f"{prefix}{epoch},{_csv_prefix([metric])}{_fmt(value)}\r\n")
    return "".join(parts)


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
        "criterion_forward_passes": "" if r.criterion_forward_passes is None else r.criterion_forward_passes,
        "forward_passes": r.forward_passes, "samples": r.samples, "wall_seconds": round(r.wall_seconds, 6),
        "message": r.message,
    }


def load_records(run_dir: Path, scenario: Scenario) -> list[RunRecord]:
    """The finished runs of a run directory (not interrupted, not failed), rebuilt from its files."""
    specs = {spec.label: spec for spec in scenario.rules}
    with open(run_dir / "runs.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] not in (INTERRUPTED, FAILED) and r["rule"] in specs]
    metrics: dict[tuple[str, int], list[tuple[int, str, float]]] = {}
    for m in read_metrics(run_dir):
        metrics.setdefault((m["rule"], m["seed"]), []).append((m["epoch"], m["metric"], m["value"]))
    weights = dict(np.load(run_dir / "weights.npz")) if (run_dir / "weights.npz").is_file() else {}
    inputs = dict(np.load(run_dir / "inputs.npz")) if (run_dir / "inputs.npz").is_file() else {}
    records = []
    for r in rows:
        label, seed = r["rule"], int(r["seed"])
        spec = specs[label]
        prefix = f"{label}/seed{seed}/"
        records.append(RunRecord(
            label, spec.rule.name, spec.rule.family, seed, r["status"], r["message"], int(r["epochs"]),
            int(r["criterion_epoch"]) if r["criterion_epoch"] else None,
            int(r["criterion_forward_passes"]) if r.get("criterion_forward_passes") else None,
            float(r["wall_seconds"]), int(r["forward_passes"]), int(r.get("samples") or 0),
            metrics.get((label, seed), []), weights.get(f"{label}/seed{seed}"),
            {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)}))
    return records


def main_metric(scenario: Scenario) -> str:
    """The metric a comparison is judged by: test accuracy, else train accuracy, else a loss."""
    for name in ("overlap_mean", "objective_best", "test_accuracy", "train_accuracy", "test_loss", "train_loss",
                 "pc_angle_0"):
        if name in scenario.metrics:
            return name
    return scenario.metrics[0]


def lower_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better: losses, objectives, angles to principal components."""
    return metric.endswith(("loss", "objective")) or metric.startswith(("pc_angle", "objective"))


def mean_ci95(values: Iterable[float]) -> tuple[float, float, float]:
    """(mean, sample std, half-width of the 95 % Student-t confidence interval)."""
    from rulelab.output.stats import t_quantile

    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), 0.0, float("nan")
    std = float(x.std(ddof=1))
    half = float(t_quantile(0.975, x.size - 1) * std / math.sqrt(x.size))
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
        lower_is_better = lower_better(main)
        pick_best, pick_worst = (min, max) if lower_is_better else (max, min)
        mean, std, half = mean_ci95(finals)
        r_ = _sig if main.startswith("objective") else _r  # objective values span decades: significant digits
        row: dict[str, Any] = {
            "rule": spec.label, "family": spec.family, "seeds": len(runs),
            "metric": main, "budget": scenario.train.describe_budget(),
            "mean": r_(mean), "std": r_(std), "ci95": r_(half),
            "best": r_(pick_best(finals)) if finals else "", "worst": r_(pick_worst(finals)) if finals else "",
        }
        for metric in scenario.metrics:
            if metric != main:
                m, s, _ = mean_ci95(r.final(metric) for r in runs if r.status not in (FAILED, INTERRUPTED))
                r_ = _sig if metric.startswith("objective") else _r
                row[f"{metric}_mean"], row[f"{metric}_std"] = r_(m), r_(s)
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
        row.update(_versus_reference(scenario, records, spec.label, main))
        row["problems"] = _note(scenario, runs)
        row["comparison"] = _comparison_words(row, main)
        row["note"] = "; ".join(filter(None, [row["problems"], row["comparison"]]))
        rows.append(row)
    return rows


def paired_test(reference: dict[int, float], other: dict[int, float]) -> tuple[float, float, int]:
    """(mean difference other − reference, two-sided p-value of the paired t-test, pairs used).

    Pairs are seeds both runs finished with a finite value; the p-value is NaN with
    fewer than two pairs, and 1 when every difference is zero.
    """
    from rulelab.output.stats import paired_t_test

    seeds = sorted(s for s in reference if s in other
                   and math.isfinite(reference[s]) and math.isfinite(other[s]))
    if not seeds:
        return float("nan"), float("nan"), 0
    diff = np.array([other[s] - reference[s] for s in seeds])
    if len(seeds) < 2:
        return float(diff.mean()), float("nan"), len(seeds)
    if np.all(diff == diff[0]):
        return float(diff.mean()), 1.0 if diff[0] == 0 else 0.0, len(seeds)
    return float(diff.mean()), paired_t_test([other[s] for s in seeds], [reference[s] for s in seeds]), len(seeds)


def _versus_reference(scenario: Scenario, records: list[RunRecord], label: str, main: str) -> dict[str, Any]:
    reference = scenario.rules[0].label
    if label == reference:
        return {"vs_reference": "reference", "difference": "", "p_value": ""}

    def finals(name: str) -> dict[int, float]:
        return {r.seed: r.final(main) for r in records
                if r.label == name and r.status not in (FAILED, INTERRUPTED)}

    diff, p, n = paired_test(finals(reference), finals(label))
    rounded = _sig(diff) if main.startswith("objective") else _r(diff)
    return {"vs_reference": reference, "difference": rounded, "p_value": _r(p, 4)}


def _comparison_words(row: dict[str, Any], main: str) -> str:
    """The paired test against the reference, in words (5 % level)."""
    if row.get("vs_reference") in (None, "reference") or row.get("p_value") == "":
        return ""
    diff, p = row["difference"], row["p_value"]
    shown = "< 0.0001" if p < 1e-4 else f"= {p:.2g}"
    if p >= 0.05:
        return f"no significant difference from {row['vs_reference']} (paired p {shown})"
    better = diff < 0 if lower_better(main) else diff > 0
    return f"{'better' if better else 'worse'} than {row['vs_reference']} (paired p {shown})"


def summary_markdown(scenario: Scenario, rows: list[dict[str, Any]], budget: str = "") -> str:
    """summary.md: the table a person reads, with the statistics spelt out."""
    if not rows:
        return f"# {scenario.name}\n\nNo finished runs.\n"
    main = rows[0]["metric"]
    lines = [f"# {scenario.name}", "", scenario.description.strip(), "",
             f"Main metric: **{main}**, final value over {len(scenario.seeds)} seed(s) "
             f"(mean ± 95 % confidence interval, Student t). "
             f"Budget: {budget or scenario.train.describe_budget()}. "
             f"p: paired t-test against **{scenario.rules[0].label}** over the same seeds.", "",
             "| rule | family | mean ± 95 % CI | best | worst | converged | diverged | epochs to criterion | "
             "forward passes to criterion | wall s | Δ vs reference | p | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        digits = ".4g" if main.startswith("objective") else ".4f"
        ci = f" ± {r['ci95']:{digits}}" if isinstance(r["ci95"], float) else ""
        mean = f"{r['mean']:{digits}}{ci}" if r["mean"] != "" else "n/a"
        lines.append(" | ".join([f"| {r['rule']}", r["family"], mean, str(r["best"]), str(r["worst"]),
                                 r["converged"], r["diverged"], str(r["epochs_to_criterion"]),
                                 str(r["forward_passes_to_criterion"]), str(r["wall_seconds"]),
                                 str(r["difference"]), str(r["p_value"]), r["note"] or "—"]) + " |")
    return "\n".join(lines) + "\n"


def _fraction(runs: list[RunRecord], status: str) -> str:
    return f"{sum(r.status == status for r in runs)}/{len(runs)}"


def _r(value: float, digits: int = 6) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return round(float(value), digits)


def _sig(value: float, digits: int = 6) -> Any:
    """``value`` to ``digits`` significant digits ('' when not finite)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return float(f"{float(value):.{digits}g}")


def _note(scenario: Scenario, runs: list[RunRecord]) -> str:
    """Plain words for what went wrong or did not happen; empty when every seed met the goal."""
    n = len(runs)
    notes = []
    for status, words in ((NOT_CONVERGED, f"did not converge within {scenario.train.epochs} epochs"),
                          (DIVERGED, "diverged (NaN, infinite or unbounded weights)"),
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


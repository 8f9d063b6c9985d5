"""Sweeps: a grid (or a seeded random sample of it) over any scenario setting, crossed with the repeats.

    sweep:
      grid:
        rules[0].lr: [0.01, 0.1, 1.0]
        network.layers[1]: [8, 32]
      random: {samples: 4, seed: 1}          # optional: a seeded sample of the grid's points
      select: {fresh_repeats: 5}             # optional: tune on validation, report on fresh seeds

Every point is a complete scenario, validated before any work starts.  The unit of
work is one (point, rule, seed) run; runs go to local worker processes (default) or
to a Dask cluster, and stream into the run directory as they finish:

    points.csv   point → the value of every swept key
    metrics.csv  point,rule,seed,epoch,metric,value
    runs.csv     point,rule,seed,status,… (one row per finished run; --resume reads it)
    grid.csv     per point and rule: the main metric over seeds (mean, std, 95 % CI)
    best.csv     per rule: the best point, its settings, score and interval
    tuned/       with select: the best setting per rule re-run on fresh seeds (a full run directory)
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rulelab.output.results import SWEEP_RUN_COLUMNS, SweepWriter, write_csv
from rulelab.run.executors import collect
from rulelab.scenario import (KeyPathError, Scenario, ScenarioError, parse_key_path, pydantic_problems,
                                read_with_overrides, set_key_path, validate_scenario)
from rulelab.scenario.errors import clip_text, show
from rulelab.scenario.limits import (INT64_MAX, MAX_RUNS, MAX_SWEEP_POINTS, MAX_SWEEP_VALUES, count_values,
                                     format_count)


# Strict, as the scenario's own schema: a boolean is not a count, numbers are finite.
_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class RandomConfig(BaseModel):
    model_config = _STRICT
    samples: int = Field(ge=1, description="points drawn from the grid, without replacement")
    seed: int = Field(0, ge=0)


class SelectConfig(BaseModel):
    model_config = _STRICT
    fresh_repeats: int = Field(5, ge=1, description="seeds for the final comparison of the best settings")
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="training rows held out to choose settings")


class SweepConfig(BaseModel):
    model_config = _STRICT
    grid: dict[str, list[Any]] = Field(min_length=1, description="key path → the values to try")
    random: RandomConfig | None = None
    select: SelectConfig | None = None


@dataclass
class Point:
    index: int
    settings: dict[str, Any]
    scenario: Scenario

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings.items())


@dataclass
class Sweep:
    source: str
    config: SweepConfig
    points: list[Point]
    base: dict[str, Any]  # the scenario without its sweep block
    keys: list[str] = field(default_factory=list)

    def relevant(self, rule_index: int) -> list[str]:
        """The swept keys that can change rule ``rule_index``: its own and every key not about another rule."""
        own = f"rules[{rule_index}]"
        return [k for k in self.keys if not k.startswith("rules[") or k.startswith(own + ".") or k == own]

    def canonical(self, point: int, rule_index: int) -> int:
        """The first point with the same relevant settings for this rule: its runs stand for this one's."""
        keys = self.relevant(rule_index)
        mine = [self.points[point].settings[k] for k in keys]
        return next(p.index for p in self.points if [p.settings[k] for k in keys] == mine)

    def tasks(self) -> list[tuple[int, int, int]]:
        """(point, rule index, seed) for every distinct run, point-major: a rule is not re-run at points
        that differ only in another rule's hyperparameters."""
        return [(p.index, i, seed) for p in self.points for seed in p.scenario.seeds
                for i in range(len(p.scenario.rules)) if self.canonical(p.index, i) == p.index]


def _set(raw: dict[str, Any], path: str, value: Any, source: str) -> None:
    """Set a key path whose parent must already exist (the last key may be new: a default)."""
    where = f"sweep.grid.{path}"
    try:
        set_key_path(raw, parse_key_path(path), copy.deepcopy(value), create_missing=False)
    except KeyPathError as exc:
        words = {"not_list": f"{exc.where} is out of range (the list has 0 items)",
                 "out_of_range": f"{exc.where} is out of range (the list has {exc.size} items)",
                 "not_mapping": "its parent is not a mapping",
                 "missing": f"no '{exc.where}' in the scenario (set it in the file first, then sweep it)"}[exc.kind]
        raise ScenarioError(source, [(where, f"key path does not exist: {words}")]) from None
    except ValueError as exc:  # a malformed path
        raise ScenarioError(source, [(where, str(exc))]) from None


def load_sweep(path: str | Path, overrides: tuple[str, ...] = (), seed: int | None = None,
               repeats: int | None = None, plugins: tuple[str, ...] = ()) -> Sweep:
    """Read a scenario with a ``sweep:`` block and validate every point (raises ScenarioError)."""
    path = Path(path)
    raw = read_with_overrides(path, overrides, seed, repeats)
    source = str(path)
    if "tasks" in raw:
        raise ScenarioError(source, [("sweep", "a sweep runs one task; sweep each task's file separately")])
    block = raw.pop("sweep", None)
    if block is None:
        raise ScenarioError(source, [("sweep", "missing; this scenario declares no sweep (add sweep: {grid: …})")])
    try:
        config = SweepConfig.model_validate(block)
    except ValidationError as exc:
        raise ScenarioError(source, pydantic_problems(exc, ("sweep",), SweepConfig, given=block)) from None
    empty = [k for k, values in config.grid.items() if not values]
    if empty:
        raise ScenarioError(source, [(f"sweep.grid.{k}", "empty list; give at least one value") for k in empty])
    if config.select is not None and isinstance(raw.setdefault("task", {}), dict):  # else: validation says so
        raw["task"]["validation_fraction"] = config.select.validation_fraction
        outside = [k for k in config.grid if not k.startswith(("rules[", "network."))]
        if outside:
            raise ScenarioError(source, [(f"sweep.grid.{k}", "select tunes each rule separately: sweep keys under "
                                          "rules[…] or network only") for k in outside])
    keys = list(config.grid)
    combos = _grid_points(config, keys, source)
    size = count_values(raw, MAX_SWEEP_VALUES)
    if size * len(combos) > MAX_SWEEP_VALUES:  # every point is a copy of the scenario
        raise ScenarioError(source, [("sweep", f"{len(combos)} points × {size} values of the scenario = "
                                               f"{format_count(size * len(combos))} values, more than the "
                                               f"{format_count(MAX_SWEEP_VALUES)} a sweep may hold")])
    points = []
    for index, values in enumerate(combos):
        settings = dict(zip(keys, values))
        point_raw = copy.deepcopy(raw)
        for key, value in settings.items():
            _set(point_raw, key, value, source)
        try:
            scenario = validate_scenario(point_raw, source, path.parent, extra_plugins=plugins)
        except ScenarioError as exc:
            where = ", ".join(f"{clip_text(k)}={show(v)}" for k, v in settings.items())
            raise ScenarioError(source, [(p, f"{m} (sweep point {where})") for p, m in exc.problems]) from None
        points.append(Point(index, settings, scenario))
    runs = sum(len(p.scenario.rules) * p.scenario.repeats for p in points)
    if runs > MAX_RUNS:
        raise ScenarioError(source, [("sweep", f"{len(points)} points × their rules and seeds = {format_count(runs)} "
                                               f"runs, more than the {format_count(MAX_RUNS)} a sweep can hold")])
    return Sweep(source, config, points, raw, keys)


def _grid_points(config: SweepConfig, keys: list[str], source: str) -> list[tuple[Any, ...]]:
    """The grid's points (or the seeded sample of them), counted before any is made: a few keys with
    a few hundred values each are more points than memory holds."""
    sizes = [len(config.grid[k]) for k in keys]
    n_points = math.prod(sizes)
    sampled = config.random is not None and config.random.samples < n_points
    wanted = config.random.samples if sampled else n_points
    if wanted > MAX_SWEEP_POINTS:
        shape = " × ".join(str(n) for n in sizes)
        raise ScenarioError(source, [("sweep", f"{shape} = {format_count(wanted)} points; at most "
                                               f"{format_count(MAX_SWEEP_POINTS)} (every point is a whole scenario; "
                                               "sample the grid with random: {samples: N})")])
    if not sampled:
        return list(itertools.product(*(config.grid[k] for k in keys)))
    if n_points > INT64_MAX:
        raise ScenarioError(source, [("sweep.grid", f"{format_count(n_points)} points are more than a seeded "
                                                    "sample can be drawn from (at most 2^63)")])
    rng = np.random.default_rng(config.random.seed)
    chosen = sorted(rng.choice(n_points, config.random.samples, replace=False).tolist())
    return [_grid_point(config, keys, sizes, i) for i in chosen]


def _grid_point(config: SweepConfig, keys: list[str], sizes: list[int], index: int) -> tuple[Any, ...]:
    """Point ``index`` of itertools.product over the grid (the last key varies fastest), without the others."""
    digits = []
    for size in reversed(sizes):
        index, digit = divmod(index, size)
        digits.append(digit)
    return tuple(config.grid[k][d] for k, d in zip(keys, reversed(digits)))


# ------------------------------------------------------------------ executors


# ------------------------------------------------------------------ results


RUN_FIELDS = SWEEP_RUN_COLUMNS


def selection_metric(scenario: Scenario, validation: bool) -> str:
    from rulelab.output.results import main_metric

    main = main_metric(scenario)
    if validation:
        return main.replace("test_", "validation_").replace("train_", "validation_")
    return main


def lower_is_better(metric: str) -> bool:
    return metric.endswith("loss") or metric.startswith("pc_angle")


def grid_table(sweep: Sweep, writer: SweepWriter) -> list[dict[str, Any]]:
    """Per point and rule: the main metric (validation metric with select) over seeds."""
    from rulelab.output.results import mean_ci95

    rows = []
    for p in sweep.points:
        metric = selection_metric(p.scenario, sweep.config.select is not None)
        for i, spec in enumerate(p.scenario.rules):
            if sweep.canonical(p.index, i) != p.index:
                continue  # the same runs as an earlier point for this rule
            keys = [(p.index, spec.label, s) for s in p.scenario.seeds]
            values = [writer.finals.get(k, {}).get(metric, float("nan")) for k in keys
                      if writer.statuses.get(k) not in (None, "failed", "interrupted")]
            mean, std, half = mean_ci95(values)
            statuses = [writer.statuses.get(k, "missing") for k in keys]
            relevant = sweep.relevant(i)
            rows.append({"point": p.index,
                         **{k: json.dumps(v) if k in relevant else "" for k, v in p.settings.items()},
                         "rule": spec.label, "metric": metric, "mean": mean, "std": std, "ci95": half,
                         "seeds": len(values), "failed": statuses.count("failed"),
                         "diverged": statuses.count("diverged"), "missing": statuses.count("missing")})
    return rows


def best_table(grid: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """Per rule, the point with the best mean (NaN means never win)."""
    best: dict[str, dict[str, Any]] = {}
    for row in grid:
        if not np.isfinite(row["mean"]):
            continue
        current = best.get(row["rule"])
        better = (row["mean"] < current["mean"]) if current and lower_is_better(row["metric"]) else (
            current is None or row["mean"] > current["mean"])
        if current is None or better:
            best[row["rule"]] = row
    return [{"rule": rule, "point": row["point"], **{k: row[k] for k in keys}, "metric": row["metric"],
             "mean": row["mean"], "ci95": row["ci95"], "seeds": row["seeds"]} for rule, row in best.items()]


def write_tables(out: Path, sweep: Sweep, writer: SweepWriter) -> tuple[list[dict], list[dict]]:
    grid = grid_table(sweep, writer)
    best = best_table(grid, sweep.keys)
    writer.finish()  # the merged metrics.csv and runs.csv, in the sweep's order
    for name, rows in (("grid.csv", grid), ("best.csv", best)):
        write_csv(out / name, rows)
    return grid, best


def run_sweep(sweep: Sweep, writer: SweepWriter, executor, on_done: Callable[[int, Any], None]) -> None:
    """Submit every unfinished (point, rule, seed); record each result as it arrives.

    A worker that dies records a failed run; Ctrl-C cancels the rest and keeps what finished.
    """
    points = {p.index: p for p in sweep.points}
    tasks = {(index, rule_index, seed): (points[index].scenario, rule_index, seed)
             for index, rule_index, seed in sweep.tasks()
             if (index, points[index].scenario.rules[rule_index].label, seed) not in writer.done}

    def record(key, result) -> None:
        writer.add(key[0], result)
        on_done(key[0], result)

    collect(executor, tasks, record)


def tuned_scenario(sweep: Sweep, best: list[dict[str, Any]]) -> dict[str, Any]:
    """The base scenario with each rule set to its best point, fresh seeds, no validation split."""
    points = {p.index: p for p in sweep.points}
    raw = copy.deepcopy(sweep.base)
    raw.setdefault("task", {})["validation_fraction"] = 0.0
    raw["seed"] = int(raw.get("seed", 0)) + 10_000  # fresh seeds: none was used to choose the settings
    raw["repeats"] = sweep.config.select.fresh_repeats
    rules = []
    for i, entry in enumerate(sweep.base["rules"]):
        label = points[0].scenario.rules[i].label
        choice = next((b for b in best if b["rule"] == label), None)
        resolved = points[choice["point"] if choice else 0].scenario.resolved
        item = copy.deepcopy(resolved["rules"][i])
        item["network"] = {**copy.deepcopy(resolved["network"]), **item.get("network", {})}
        rules.append(item)
    raw["rules"] = rules
    return raw


# ------------------------------------------------------------------ figures


def sweep_figures(out: Path, sweep: Sweep, writer: SweepWriter) -> list[Path]:
    """Sensitivity (the metric against each swept value, per rule, 95 % CI) and, for two-key grids,
    one heatmap per rule."""
    from rulelab.output.stats import t_quantile

    from rulelab.output.plots import plt

    labels = [spec.label for spec in sweep.points[0].scenario.rules]
    colors = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(labels)}
    metric = selection_metric(sweep.points[0].scenario, sweep.config.select is not None)
    figures = []
    fig, axes = plt.subplots(1, len(sweep.keys), figsize=(5.2 * len(sweep.keys), 4), squeeze=False)
    for ax, key in zip(axes[0], sweep.keys):
        values = list(dict.fromkeys(json.dumps(p.settings[key]) for p in sweep.points))
        for label in labels:
            means, lows, highs = [], [], []
            for v in values:
                finals = [writer.finals.get((sweep.canonical(p.index, labels.index(label)), label, s), {})
                          .get(metric, np.nan)
                          for p in sweep.points if json.dumps(p.settings[key]) == v for s in p.scenario.seeds]
                x = np.array([f for f in finals if np.isfinite(f)])
                m = x.mean() if x.size else np.nan
                h = t_quantile(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else 0.0
                means.append(m)
                lows.append(m - h)
                highs.append(m + h)
            pos = np.arange(len(values))
            ax.plot(pos, means, "o-", color=colors[label], label=label)
            ax.fill_between(pos, lows, highs, color=colors[label], alpha=0.18)
        ax.set_xticks(np.arange(len(values)), values, rotation=30)
        ax.set_xlabel(key)
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(f"sensitivity to {key}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("sweep: mean over seeds and the other swept keys, 95 % CI")
    fig.tight_layout()
    figures.append(_save(fig, out, "sensitivity"))
    if len(sweep.keys) == 2:
        k1, k2 = sweep.keys
        v1 = list(dict.fromkeys(json.dumps(p.settings[k1]) for p in sweep.points))
        v2 = list(dict.fromkeys(json.dumps(p.settings[k2]) for p in sweep.points))
        fig, axes = plt.subplots(1, len(labels), figsize=(4.4 * len(labels), 3.8), squeeze=False)
        for ax, label in zip(axes[0], labels):
            table = np.full((len(v1), len(v2)), np.nan)
            for p in sweep.points:
                c = sweep.canonical(p.index, labels.index(label))
                finals = [writer.finals.get((c, label, s), {}).get(metric, np.nan) for s in p.scenario.seeds]
                finite = [f for f in finals if np.isfinite(f)]
                if finite:
                    table[v1.index(json.dumps(p.settings[k1])), v2.index(json.dumps(p.settings[k2]))] = np.mean(finite)
            image = ax.imshow(table, cmap="viridis_r" if lower_is_better(metric) else "viridis", aspect="auto")
            for (i, j), v in np.ndenumerate(table):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7, color="w")
            ax.set_xticks(range(len(v2)), v2, rotation=30)
            ax.set_yticks(range(len(v1)), v1)
            ax.set_xlabel(k2)
            ax.set_ylabel(k1)
            ax.set_title(label)
            fig.colorbar(image, ax=ax, shrink=0.8, label=metric.replace("_", " "))
        fig.suptitle(f"sweep: mean {metric.replace('_', ' ')} over seeds")
        fig.tight_layout()
        figures.append(_save(fig, out, "heatmap"))
    return figures


def _save(fig, out: Path, name: str) -> Path:
    from rulelab.output.plots import plt

    path = out / "figures" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path.with_suffix(".png"), dpi=110, bbox_inches="tight")
    fig.savefig(path.with_suffix(".svg"), bbox_inches="tight")
    plt.close(fig)
    return path.with_suffix(".png")

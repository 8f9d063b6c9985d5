"""Figures from a saved run directory, written as PNG and SVG with a file-only backend.

Everything here reads the run directory (``metrics.csv``, ``scenario.yaml``,
``weights.npz``, ``inputs.npz``, through :mod:`rulelab.output.results`, which owns its
files), never a live run, so ``rulelab plot RUN_DIR``
rebuilds exactly what ``rulelab run`` wrote.  Each rule keeps one colour in
every figure (its position in the scenario).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rulelab.output.results import (MetricSeries, open_arrays, read_metric_series, read_saved_scenario,  # noqa: E402
                                    read_summary)
from rulelab.tasks.kinds import kind_of  # noqa: E402

REQUIRED = ("scenario.yaml", "metrics.csv", "summary.csv")
REGION_GRID = 160  # points per axis of a decision-region image
CURVE_METRIC_LABELS = {
    "test_accuracy": "test accuracy (fraction correct)",
    "train_accuracy": "training accuracy (fraction correct)",
    "test_loss": "test loss (per sample)",
    "train_loss": "training loss (per sample)",
}


class PlotError(Exception):
    """A run directory cannot be plotted (missing or unreadable files)."""


@dataclass
class Run:
    """A saved run, as the plotting code needs it."""

    path: Path
    resolved: dict[str, Any]
    labels: list[str]
    metrics: dict[tuple[str, str], dict[int, dict[int, float]]]  # (rule, metric) → seed → epoch → value
    summary: list[dict[str, str]]
    figures: list[Path] = field(default_factory=list)
    objects: dict[str, Any] = field(default_factory=dict)  # figure name → matplotlib Figure (for tests)
    svg: bool = False  # also write each figure as SVG
    scenario: Any = None  # the validated scenario, when the caller has it (or once validated)
    data: dict[int, Any] = field(default_factory=dict)  # prepared data per seed, made once

    @property
    def name(self) -> str:
        return str(self.resolved.get("name", self.path.name))

    def color(self, label: str) -> Any:
        return plt.get_cmap("tab10")(self.labels.index(label) % 10)

    def has(self, metric: str) -> bool:
        return any(m == metric for (_, m) in self.metrics)

    def series(self, label: str, metric: str) -> dict[int, dict[int, float]]:
        return self.metrics.get((label, metric), {})


def load_run(path: str | Path, records=None, scenario=None) -> Run:
    """Read a run directory; a missing file is a :class:`PlotError` naming it.

    A caller that has just run it passes its ``records`` and ``scenario``: the metrics then
    come from the records' tables instead of parsing metrics.csv again."""
    path = Path(path)
    if not path.is_dir():
        raise PlotError(f"{path}: no such run directory")
    for name in REQUIRED:
        if not (path / name).is_file():
            raise PlotError(f"{path}: missing {name} — is this a complete rulelab run directory?")
    resolved = read_saved_scenario(path)
    labels = [r.get("label") or r.get("rule", "?") for r in resolved.get("rules", [])]
    try:
        metrics = _metrics_from_records(records) if records is not None else read_metric_series(path)
    except ValueError as exc:
        raise PlotError(str(exc)) from None
    summary = read_summary(path)
    for label in sorted({rule for rule, _ in metrics}):
        if label not in labels:
            labels.append(label)
    return Run(path, resolved, labels, metrics, summary, scenario=scenario)


Metrics = MetricSeries


def _metrics_from_records(records) -> Metrics:
    metrics: Metrics = {}
    for record in records:
        for block in record.blocks:
            epochs = block.epochs.tolist()
            for c, name in enumerate(block.names):
                series = metrics.setdefault((record.label, name), {}).setdefault(record.seed, {})
                series.update(zip(epochs, block.values[:, c].tolist()))
        for epoch, name, value in record.rows:
            metrics.setdefault((record.label, name), {}).setdefault(record.seed, {})[epoch] = float(value)
    return metrics


# ------------------------------------------------------------------ helpers


def _fixed_margins(fig) -> None:
    """Margins in inches for every figure: one draw per file.

    matplotlib's tight layout measures every label first (half the time of a figure, measured);
    bbox_inches="tight" draws twice.  Axis labels, tick labels and titles here are short and
    of fixed size, so fixed margins fit them."""
    width, height = fig.get_size_inches()
    top = 0.75 if fig._suptitle is not None else 0.4
    fig.subplots_adjust(left=min(0.75 / width, 0.3), right=1 - min(0.2 / width, 0.1),
                        bottom=min(0.6 / height, 0.3), top=1 - min(top / height, 0.3), wspace=0.3, hspace=0.45)


def _save(fig, run: Run, name: str) -> Path:
    out = run.path / "figures" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        _fixed_margins(fig)
    fig.savefig(out.with_suffix(".png"), dpi=110)
    if run.svg:  # vector copies on request (rulelab plot --svg): they cost as much again to write
        fig.savefig(out.with_suffix(".svg"))
    plt.close(fig)
    run.figures.append(out.with_suffix(".png"))
    run.objects[name] = fig
    return out.with_suffix(".png")


def mean_band(per_seed: dict[int, dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, low, high) across seeds with a 95 % t-interval.

    A seed that stopped early (converged or diverged) keeps its last value, so every
    epoch averages over all seeds.
    """
    from rulelab.output.stats import t_quantiles

    if not per_seed or not any(per_seed.values()):
        return (np.zeros(0),) * 4
    epochs = np.unique(np.concatenate([np.fromiter(series, dtype=np.int64) for series in per_seed.values()]))
    values = np.full((len(per_seed), len(epochs)), np.nan)
    for i, series in enumerate(per_seed.values()):
        if not series:
            continue
        own = np.fromiter(series, dtype=np.int64)
        order = np.argsort(own)
        own, vals = own[order], np.fromiter(series.values(), dtype=float)[order]
        # The value at each epoch is the seed's latest value at or before it (stopped seeds keep theirs).
        at = np.searchsorted(own, epochs, side="right") - 1
        values[i] = np.where(at >= 0, vals[np.maximum(at, 0)], np.nan)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(values, axis=0)
        n = np.sum(np.isfinite(values), axis=0)
        sem = np.nanstd(values, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)) if values.shape[0] > 1 \
            else np.zeros(len(epochs))
        half = np.where(n > 1, t_quantiles(0.975, np.maximum(n - 1, 1)) * sem, 0.0)
    return epochs, mean, mean - half, mean + half


def _x_axis(run: Run, label: str, axis: str, epochs: np.ndarray) -> np.ndarray:
    if axis == "epoch":
        return epochs
    _, mean, _, _ = mean_band(run.series(label, axis))
    return mean[:len(epochs)] if mean.size >= len(epochs) else np.full(len(epochs), np.nan)


# ------------------------------------------------------------------ figures


def _axis_informative(run: Run, axis: str) -> bool:
    """Whether curves against this x axis show something the per-epoch curves do not.

    Forward passes: only when rules pay different amounts per epoch (a population pays
    members × rows), else the figure repeats the per-epoch one.  Wall time: only when the
    scenario budgets wall time; otherwise the summary's wall seconds say it without a figure
    of timing noise."""
    if axis == "epoch":
        return True
    if axis == "wall_seconds":
        budget = (run.resolved.get("train") or {}).get("budget") or {}
        return isinstance(budget, dict) and budget.get("wall_seconds") is not None
    costs = set()
    for label in run.labels:
        for per_seed in run.series(label, "forward_passes").values():
            epochs = sorted(per_seed)
            if len(epochs) > 1:
                costs.add(round((per_seed[epochs[-1]] - per_seed[epochs[0]]) / (epochs[-1] - epochs[0]), 6))
    return len(costs) > 1



def learning_curves(run: Run, axis: str = "epoch") -> list[Path]:
    """The main metric (and the loss) per rule: mean line and 95 % band over seeds, against epochs,
    forward passes or wall time."""
    metrics = [m for m in ("test_accuracy", "train_accuracy", "test_loss", "train_loss") if run.has(m)]
    if not metrics or not _axis_informative(run, axis):
        return []
    primary = [m for m in metrics if "accuracy" in m][:1] + [m for m in metrics if "loss" in m][:1]
    xlabel = {"epoch": "epoch", "forward_passes": "forward passes (samples × members)",
              "wall_seconds": "training wall time (s)"}[axis]
    fig, axes = plt.subplots(1, len(primary), figsize=(6.2 * len(primary), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], primary):
        for label in run.labels:
            epochs, mean, low, high = mean_band(run.series(label, metric))
            if epochs.size == 0:
                continue
            x = _x_axis(run, label, axis, epochs)
            if "accuracy" in metric:  # a fraction: the band is clipped to what is possible
                low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
            color = run.color(label)
            ax.plot(x, mean, color=color, label=label, lw=1.8)
            ax.fill_between(x, low, high, color=color, alpha=0.18, lw=0)
        if axis == "forward_passes":
            ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(CURVE_METRIC_LABELS[metric])
        ax.set_title(f"{metric.replace('_', ' ')} against {xlabel.split(' (')[0]}")
        ax.grid(alpha=0.3)
        # A fixed place: matplotlib's "best" tries every position against every point drawn.
        ax.legend(fontsize=8, loc="lower right" if "accuracy" in metric else "upper right")
    fig.suptitle(f"{run.name}: learning curves (mean and 95 % CI over seeds)")
    name = {"epoch": "learning-curves", "forward_passes": "learning-curves-forward-passes",
            "wall_seconds": "learning-curves-wall-time"}[axis]
    return [_save(fig, run, name)]


def es_fitness(run: Run) -> list[Path]:
    """For population rules: best and mean fitness of the population per epoch, with its spread."""
    rules = [label for label in run.labels if run.series(label, "fitness_best")]
    if not rules:
        return []
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label in rules:
        color = run.color(label)
        e, best, _, _ = mean_band(run.series(label, "fitness_best"))
        _, mean, _, _ = mean_band(run.series(label, "fitness_mean"))
        _, spread, _, _ = mean_band(run.series(label, "fitness_std"))
        ax.plot(e, best, color=color, lw=1.8, label=f"{label}: best")
        ax.plot(e, mean, color=color, lw=1.2, ls="--", label=f"{label}: mean")
        ax.fill_between(e, mean - spread, mean + spread, color=color, alpha=0.15, lw=0)
    ax.set_xlabel("epoch (generations of minibatches covering the training set)")
    ax.set_ylabel("fitness (−loss or accuracy)")
    ax.set_title(f"{run.name}: population fitness (band: ±1 std within the population)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [_save(fig, run, "es-fitness")]


def pc_angle_curves(run: Run) -> list[Path]:
    """Unsupervised (Oja/Sanger/Hebb) runs: angle between unit k's weights and the k-th principal component."""
    components = sorted({int(m.rsplit("_", 1)[1]) for (_, m) in run.metrics if m.startswith("pc_angle_")})
    if not components:
        return []
    fig, axes = plt.subplots(1, len(components) + 1, figsize=(4.6 * (len(components) + 1), 3.8), squeeze=False)
    norm_ax = axes[0][-1]
    for label in run.labels:
        epochs, mean, _, _ = mean_band(run.series(label, "weight_norm"))
        if epochs.size:
            norm_ax.plot(epochs, mean, color=run.color(label), label=label, lw=1.8)
    norm_ax.set_yscale("log")
    norm_ax.set_xlabel("epoch")
    norm_ax.set_ylabel("largest ‖w‖ (log scale)")
    norm_ax.set_title("weight norm: bounded rules stay at 1")
    norm_ax.grid(alpha=0.3)
    for ax, k in zip(axes[0], components):
        for label in run.labels:
            epochs, mean, low, high = mean_band(run.series(label, f"pc_angle_{k}"))
            if epochs.size == 0:
                continue
            ax.plot(epochs, mean, color=run.color(label), label=label, lw=1.8)
            ax.fill_between(epochs, np.clip(low, 0, 90), np.clip(high, 0, 90), color=run.color(label),
                            alpha=0.18, lw=0)
        ax.set_ylim(0, 90)
        ax.set_xlabel("epoch")
        ax.set_ylabel("angle to principal component (degrees)")
        ax.set_title(f"unit {k} vs component {k + 1}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{run.name}: convergence to the principal components (mean and 95 % CI over seeds)")
    return [_save(fig, run, "pc-angles")]


def _conditions(run: Run, label: str) -> list[tuple[int, float, float, float, float, float]]:
    """(step, load, flip fraction, mean overlap, low, high) per association condition of a rule."""
    steps, mean, low, high = mean_band(run.series(label, "overlap"))
    loads = run.series(label, "load")
    flips = run.series(label, "flip_fraction")
    first = next(iter(loads), None)
    if first is None:
        return []
    return [(int(s), loads[first][int(s)], flips[first][int(s)], m, lo, hi)
            for s, m, lo, hi in zip(steps, mean, low, high)]


def association_figures(run: Run) -> list[Path]:
    """Overlap against cue noise and against the load α (theory α_c ≈ 0.138 marked); recalls as images."""
    rules = [label for label in run.labels if run.series(label, "overlap")]
    if not rules:
        return []
    out = []
    table = {label: _conditions(run, label) for label in rules}
    loads = sorted({c[1] for rows in table.values() for c in rows})
    flips = sorted({c[2] for rows in table.values() for c in rows})
    styles = ["-", "--", ":", "-."]
    if len(flips) > 1:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for label in rules:
            rows = [c for c in table[label] if c[1] == loads[0]]
            x = [c[2] for c in rows]
            ax.plot(x, [c[3] for c in rows], "o-", color=run.color(label), label=label)
            ax.fill_between(x, [c[4] for c in rows], [min(c[5], 1) for c in rows], color=run.color(label), alpha=0.18)
        ax.set_xlabel("cue noise (fraction of units flipped)")
        ax.set_ylabel("overlap m = ξ·v / N after recall")
        ax.set_title(f"{run.name}: recall against cue noise (load α = {loads[0]:.3g})")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        out.append(_save(fig, run, "overlap-vs-noise"))
    if len(loads) > 1:
        fig, ax = plt.subplots(figsize=(7, 4.4))
        for label in rules:
            for k, flip in enumerate(flips):
                rows = [c for c in table[label] if c[2] == flip]
                x = [c[1] for c in rows]
                ax.plot(x, [c[3] for c in rows], marker="o", ms=3, ls=styles[k % 4], color=run.color(label),
                        label=f"{label}, cue noise {flip:g}")
                ax.fill_between(x, [c[4] for c in rows], [min(c[5], 1) for c in rows], color=run.color(label),
                                alpha=0.12)
        ax.axvline(0.138, color="k", ls="--", lw=1)
        ax.text(0.138, 0.5, " α_c ≈ 0.138 (Hebbian, N → ∞)", rotation=90, va="center", ha="right", fontsize=8)
        ax.set_xlabel("load α = p / N")
        ax.set_ylabel("overlap m = ξ·v / N after recall")
        ax.set_title(f"{run.name}: capacity (mean and 95 % CI over seeds)")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
        out.append(_save(fig, run, "overlap-vs-load"))
    out += _recall_images(run)
    return out


def _recall_images(run: Run) -> list[Path]:
    """Image data: per rule, the targets, then each condition's cues and recalled states (first seed)."""
    inputs = run.path / "inputs.npz"
    scenario = _scenario(run)
    if not inputs.is_file() or scenario is None or scenario.image_shape is None:
        return []
    seed = scenario.seeds[0]
    out = []
    with open_arrays(inputs) as saved:
        for label in run.labels:
            prefix = f"{label}/seed{seed}/recall_step"
            steps = sorted({int(k[len(prefix):].split("_")[0]) for k in saved.files if k.startswith(prefix)})
            if not steps:
                continue
            flips = run.series(label, "flip_fraction").get(seed, {})
            images = [saved[f"{prefix}{steps[0]}_targets"]]
            titles = ["target"] * len(images[0])
            for step in steps:
                images += [saved[f"{prefix}{step}_cues"], saved[f"{prefix}{step}_recalled"]]
                noise = flips.get(step, float("nan"))
                titles += [f"cue {noise:.0%}"] * len(images[-1]) + ["recalled"] * len(images[-1])
            grid = np.vstack(images)
            fig = image_grid(grid, scenario.image_shape, titles,
                             f"{label}: targets, then cue and recalled state per noise level (seed {seed})",
                             cmap="gray_r", columns=len(images[0]))
            out.append(_save(fig, run, f"recall-{_safe(label)}"))
    return out


def _scenario(run: Run):
    """The run's validated scenario (validated once; None when the saved file no longer validates)."""
    from rulelab.scenario import ScenarioError, validate_scenario

    if run.scenario is None:
        try:
            run.scenario = validate_scenario(dict(run.resolved), str(run.path / "scenario.yaml"), run.path)
        except ScenarioError:
            run.scenario = False
    return run.scenario or None


def _prepared(run: Run, scenario, seed: int):
    """The seed's data split, prepared once per run."""
    from rulelab.build import prepare_data

    if seed not in run.data:
        run.data[seed] = prepare_data(scenario, seed)
    return run.data[seed]


def decision_boundaries(run: Run) -> list[Path]:
    """Two-input classification: one panel per rule (first seed), same axes, with the training data."""
    from rulelab.core import kernels as K
    from rulelab.core.network import target_range

    scenario = _scenario(run)
    weights_file = run.path / "weights.npz"
    if scenario is None or not weights_file.is_file() or not kind_of(scenario.task).draws_decision_regions:
        return []
    seed = scenario.seeds[0]
    data = _prepared(run, scenario, seed)
    split = data.split
    # Derived input features (x1², sin x1, …): draw in the plane of the points they came from.
    X = split.coordinates_train if split.coordinates_train is not None else split.X_train
    y = split.y_train
    if X.shape[1] != 2 or y is None:
        return []
    pad = 0.15 * (X.max(axis=0) - X.min(axis=0) + 1e-9)
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], REGION_GRID), np.linspace(lo[1], hi[1], REGION_GRID))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    if split.coordinates_train is not None:
        from rulelab.data.playground import derived_features

        grid_inputs = derived_features(grid, scenario.dataset_options.features)
        if split.shift is not None:
            grid_inputs = (grid_inputs - split.shift) / split.scale
    else:
        grid_inputs = grid
    specs = [s for s in scenario.rules]
    cols = min(len(specs), 3)
    rows = -(-len(specs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.9 * rows), squeeze=False)
    with open_arrays(weights_file) as saved:
        for ax, spec in zip(axes.flat, specs):
            key = f"{spec.label}/seed{seed}"
            ax.set_title(spec.label)
            if key not in saved:
                ax.text(0.5, 0.5, "no weights", ha="center", transform=ax.transAxes)
                continue
            net = spec.network
            params = saved[key].astype(np.float64)
            off, on = target_range(net.output_activation)
            pred = K.predict_all(params, net.layout, net.act_args, np.ascontiguousarray(grid_inputs),
                                 (off + on) / 2)
            # One raster of the predicted classes (contour polygons took seconds to draw).
            ax.imshow(pred.reshape(gx.shape), origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto",
                      cmap="coolwarm", vmin=-0.5, vmax=max(data.n_classes, 2) - 0.5, alpha=0.35,
                      interpolation="nearest")
            ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=18, linewidths=0.4)
            ax.set_xlabel("x₁")
            ax.set_ylabel("x₂")
    for ax in list(axes.flat)[len(specs):]:
        ax.set_axis_off()
    fig.suptitle(f"{run.name}: decision regions after training (seed {seed}), training points")
    return [_save(fig, run, "decision-boundaries")]


def first_layer_weights(run: Run, max_units: int = 32) -> list[Path]:
    """Image data: each rule's first-layer weights as images (receptive fields), first seed (dense first layers;
    conv first layers: :func:`conv_filters`)."""
    scenario = _scenario(run)
    weights_file = run.path / "weights.npz"
    if scenario is None or scenario.image_shape is None or not weights_file.is_file():
        return []
    seed = scenario.seeds[0]
    out = []
    with open_arrays(weights_file) as saved:
        for spec in scenario.rules:
            key = f"{spec.label}/seed{seed}"
            if key not in saved or not spec.network.specs or spec.network.specs[0].kind != "dense":
                continue
            W = spec.network.weights(saved[key].astype(np.float64), 0)[:max_units]
            fig = image_grid(W, scenario.image_shape, [f"unit {i}" for i in range(len(W))],
                             f"{spec.label}: first-layer weights (receptive fields), seed {seed}",
                             symmetric=True, columns=8)
            out.append(_save(fig, run, f"weights-{_safe(spec.label)}"))
    return out


def _kernel_panels(kernels: np.ndarray, titles: Sequence[str], suptitle: str, columns: int = 8):
    """One panel per kernel (C_out, C_in, KH, KW): an image of its first input channel (2-D), or each input
    channel as a curve (1-D, KH = 1); one colour scale, symmetric about 0."""
    n = len(kernels)
    cols = min(columns, max(n, 1))
    rows = max(1, -(-n // cols))
    one_d = kernels.shape[2] == 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, (1.2 if one_d else 1.5) * rows + 0.5), squeeze=False)
    limit = float(np.abs(kernels).max()) or 1.0
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_axis_off()
            continue
        if one_d:
            for c in range(kernels.shape[1]):
                ax.plot(kernels[k, c, 0], lw=1.2)
            ax.axhline(0, color="k", lw=0.5)
            ax.set_ylim(-limit, limit)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.set_axis_off()
            ax.imshow(kernels[k, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
        if k < len(titles):
            ax.set_title(titles[k], fontsize=8)
    fig.suptitle(suptitle, fontsize=10)
    return fig


def conv_filters(run: Run) -> list[Path]:
    """Each rule's first-layer conv filters (first seed): what the first layer learned to look for."""
    scenario = _scenario(run)
    weights_file = run.path / "weights.npz"
    if scenario is None or not weights_file.is_file():
        return []
    seed = scenario.seeds[0]
    out = []
    with open_arrays(weights_file) as saved:
        for spec in scenario.rules:
            key = f"{spec.label}/seed{seed}"
            net = spec.network
            if key not in saved or not net.specs or not net.specs[0].kind.startswith("conv"):
                continue
            kernels = net.kernels(saved[key].astype(np.float64), 0)
            shown = "" if kernels.shape[1] == 1 or kernels.shape[2] == 1 else " (input channel 0)"
            fig = _kernel_panels(kernels, [f"filter {k}" for k in range(len(kernels))],
                                 f"{spec.label}: first-layer filters{shown}, seed {seed}")
            out.append(_save(fig, run, f"filters-{_safe(spec.label)}"))
    return out


def feature_maps(run: Run, max_channels: int = 8) -> list[Path]:
    """One test input through every layer of each rule's net (first seed): the feature maps, channel by
    channel (a signal's channels as rows of one image; dense layers as a strip of units)."""
    from rulelab.core import kernels as K
    from rulelab.core.network import as_chw

    scenario = _scenario(run)
    weights_file = run.path / "weights.npz"
    if scenario is None or not weights_file.is_file() or not kind_of(scenario.task).classifies:
        return []
    specs = [s for s in scenario.rules if not s.network.dense_only]
    if not specs:
        return []
    seed = scenario.seeds[0]
    split = _prepared(run, scenario, seed).split
    X, y = (split.X_test, split.y_test) if split.X_test.shape[0] else (split.X_train, split.y_train)
    out = []
    with open_arrays(weights_file) as saved:
        for spec in specs:
            key = f"{spec.label}/seed{seed}"
            if key not in saved:
                continue
            net = spec.network
            params = saved[key].astype(np.float64)
            z, a = np.empty(net.n_units), np.empty(net.n_units)
            K.forward(params, net.layout, net.act_args, np.ascontiguousarray(X[0], dtype=np.float64), z, a)
            maps = [(f"input (class {y[0]})", X[0].reshape(as_chw(net.input_shape)))]
            for layer, shape in enumerate(net.shapes()):
                maps.append((net.specs[layer].describe(), K.layer_buffer(a, net.layout, layer).reshape(as_chw(shape))))
            fig = _maps_figure(maps, max_channels, f"{spec.label}: one test input through every layer, seed {seed}")
            out.append(_save(fig, run, f"feature-maps-{_safe(spec.label)}"))
    return out


def _maps_figure(maps: list[tuple[str, np.ndarray]], max_channels: int, suptitle: str):
    rows = len(maps)
    fig, axes = plt.subplots(rows, max_channels, figsize=(1.4 * max_channels, 1.35 * rows + 0.5), squeeze=False)
    for row, (title, values) in enumerate(maps):
        c, h, w = values.shape
        for ax in axes[row]:
            ax.set_axis_off()
        if h == 1:  # a signal (channels as rows) or a vector of units: one strip across the row
            merged = fig.add_subplot(rows, 1, row + 1)
            merged.imshow(values[:, 0, :] if w > 1 else values[:, 0, :].T, aspect="auto", cmap="viridis")
            merged.set_yticks([])
            merged.set_title(title, fontsize=8, loc="left")
            continue
        for k in range(min(c, max_channels)):
            axes[row][k].imshow(values[k], cmap="viridis")
            if k == 0:
                axes[row][k].set_title(title, fontsize=8, loc="left")
    fig.suptitle(suptitle, fontsize=10)
    return fig


def hebbian_filters(run: Run, max_epochs: int = 6) -> list[Path]:
    """Hebbian conv filters as they form: the kernels after a few epochs of the Hebbian stage (first seed)."""
    inputs = run.path / "inputs.npz"
    scenario = _scenario(run)
    if not inputs.is_file() or scenario is None:
        return []
    seed = scenario.seeds[0]
    out = []
    with open_arrays(inputs) as saved:
        for spec in scenario.rules:
            prefix = f"{spec.label}/seed{seed}/hebbian_filters"
            if prefix not in saved.files:
                continue
            snaps, epochs = saved[prefix], saved[f"{prefix}_epochs"]
            shape = tuple(int(v) for v in saved[f"{prefix}_shape"])
            picks = np.unique(np.linspace(0, len(epochs) - 1, min(max_epochs, len(epochs))).round().astype(int))
            kernels = np.concatenate([snaps[i].reshape(shape) for i in picks])
            titles = [f"epoch {epochs[i]}" if k == 0 else "" for i in picks for k in range(shape[0])]
            fig = _kernel_panels(kernels, titles, f"{spec.label}: filters as they form (rows: epochs "
                                 f"{', '.join(str(epochs[i]) for i in picks)}), seed {seed}", columns=shape[0])
            out.append(_save(fig, run, f"hebbian-filters-{_safe(spec.label)}"))
    return out


def optimised_inputs(run: Run) -> list[Path]:
    """Activation maximisation and adversarial examples, as images (image data) or curves (one-channel signals)."""
    inputs = run.path / "inputs.npz"
    scenario = _scenario(run)
    if not inputs.is_file() or scenario is None:
        return []
    sample = scenario.sample_shape
    shape = scenario.image_shape or (sample[1:] if sample is not None and len(sample) == 2 and sample[0] == 1
                                     else None)
    if shape is None:
        return []
    out = []
    with open_arrays(inputs) as saved:
        groups: dict[str, dict[str, np.ndarray]] = {}
        for key in saved.files:
            prefix, name = key.rsplit("/", 1)
            groups.setdefault(prefix, {})[name] = saved[key]
    for prefix, a in groups.items():
        label, seed = prefix.rsplit("/", 1)
        tag = f"{_safe(label)}-{seed}"
        if "activation_maximisation" in a:
            fig = image_grid(a["activation_maximisation"], shape,
                             [f"unit {u}" for u in a["activation_maximisation_units"]],
                             f"{label}, {seed}: inputs that maximise each unit")
            out.append(_save(fig, run, f"activation-maximisation-{tag}"))
        if "adversarial_originals" in a and len(a["adversarial_originals"]):
            orig, adv, eps = a["adversarial_originals"], a["adversarial_adversarials"], a["adversarial_epsilons"]
            titles = [f"{y} → {p}" + (f"\nε={e:.2f}" if np.isfinite(e) else "\nheld")
                      for y, p, e in zip(a["adversarial_labels"], a["adversarial_predicted"], eps)]
            fig = image_grid(np.vstack([orig, adv]), shape, [f"class {y}" for y in a["adversarial_labels"]] + titles,
                             f"{label}, {seed}: originals (top) and adversarial examples (bottom)",
                             columns=len(orig))
            out.append(_save(fig, run, f"adversarial-{tag}"))
            fig = image_grid(adv - orig, shape, titles, f"{label}, {seed}: perturbations", columns=len(orig),
                             symmetric=True)
            out.append(_save(fig, run, f"perturbations-{tag}"))
    return out


def image_grid(images: np.ndarray, shape: tuple[int, int], titles: Sequence[str] = (), suptitle: str = "",
               cmap: str = "gray_r", columns: int = 10, symmetric: bool = False):
    """A figure with one image per row of ``images`` (flattened), in a grid; a 1-D ``shape`` draws curves."""
    n = len(images)
    cols = min(columns, max(n, 1))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows + 0.4), squeeze=False)
    # A robust colour scale: a few extreme pixels (e.g. rarely-lit corners) must not wash out the rest.
    limit = float(np.percentile(np.abs(images), 99)) or 1.0 if symmetric and n else None
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= n:
            continue
        image = np.asarray(images[k]).reshape(shape)
        if len(shape) == 1:
            ax.set_axis_on()
            ax.plot(image, lw=1.0, color="C3" if symmetric else "C0")
            ax.set_xticks([])
            ax.set_yticks([])
        elif symmetric:
            ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            ax.imshow(image, cmap=cmap)
        if k < len(titles):
            ax.set_title(titles[k], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


# Every figure of a run, in the order made (rulelab.output.report adds the objective figure, which
# is drawn by its own module over this one).
FIGURE_KINDS = (
    ("learning curves", lambda run: learning_curves(run, "epoch")),
    ("learning curves per forward pass", lambda run: learning_curves(run, "forward_passes")),
    ("learning curves per wall second", lambda run: learning_curves(run, "wall_seconds")),
    ("decision boundaries", decision_boundaries),
    ("first-layer weights", first_layer_weights),
    ("first-layer conv filters", conv_filters),
    ("feature maps", feature_maps),
    ("Hebbian filters as they form", hebbian_filters),
    ("population fitness", es_fitness),
    ("angles to the principal components", pc_angle_curves),
    ("associative recall", association_figures),
    ("optimised inputs", optimised_inputs),
)

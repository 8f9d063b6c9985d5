"""The figure of an objective task: the best f(x) so far against evaluations of f, on a log scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rulelab.output.plots import Run, _save, plt


def objective_curves(run: Run) -> list[Path]:
    """Per rule and seed, objective_best against evaluations (log-log); the target of train.stop.objective
    as a dashed line."""
    rules = [label for label in run.labels if run.series(label, "objective_best")]
    if not rules:
        return []
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for label in rules:
        color = run.color(label)
        values = run.series(label, "objective_best")
        counts = run.series(label, "evaluations") or run.series(label, "forward_passes")
        for k, (seed, per_epoch) in enumerate(sorted(values.items())):
            epochs = sorted(e for e in per_epoch if e in counts.get(seed, {}))
            x = np.array([counts[seed][e] for e in epochs], dtype=float)
            y = np.array([per_epoch[e] for e in epochs], dtype=float)
            # f = 0 exactly cannot be drawn on a log scale: such points are left out.
            keep = np.isfinite(y) & (y > 0)
            ax.plot(np.maximum(x[keep], 1.0), y[keep], color=color, lw=1.2, alpha=0.8,
                    label=label if k == 0 else None)
    stop = (run.resolved.get("train") or {}).get("stop") or {}
    target = stop.get("objective") if isinstance(stop, dict) else None
    if isinstance(target, (int, float)) and target > 0:
        ax.axhline(target, color="k", ls="--", lw=1)
        ax.text(1.0, target, f" target {target:g}", va="bottom", ha="left", fontsize=8,
                transform=ax.get_yaxis_transform())
    task = run.resolved.get("task") or {}
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("evaluations of f (log scale)")
    ax.set_ylabel("best f(x) so far (log scale)")
    ax.set_title(f"{run.name}: {task.get('function', 'objective')}, D = {task.get('dimension', '?')} "
                 "(one line per seed)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    return [_save(fig, run, "objective-vs-evaluations")]

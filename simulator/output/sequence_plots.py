"""The figures of a sequence task: hidden-state trajectories, the loss at every step, the gradient's norm against
steps back in time, and (over the tasks of one file) accuracy against the delay or the sequence length."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from rulelab.output.plots import Run, _prepared, _save, _scenario, plt
from rulelab.output.results import open_arrays
from rulelab.tasks.kinds import TASK_KINDS, kind_of

EXAMPLES = 64  # test sequences averaged over in the loss-per-step and gradient-norm figures
UNITS_SHOWN = 8


def _sequence_setup(run: Run):
    """(scenario, seed, test set, saved weights file) of a sequence run, or None."""
    scenario = _scenario(run)
    weights_file = run.path / "weights.npz"
    if scenario is None or not kind_of(scenario.task).recurrent or not weights_file.is_file():
        return None
    seed = scenario.seeds[0]
    train, test = _prepared(run, scenario, seed).sequences
    return scenario, seed, (test if test.n else train), weights_file


def _recurrent(task: dict) -> bool:
    """Whether a resolved scenario's task (as saved) trains a recurrent net on sequences."""
    kind = TASK_KINDS.get(str(task.get("kind", "classification")))
    return kind is not None and kind.recurrent


def _weights(saved, label: str, seed: int) -> np.ndarray | None:
    key = f"{label}/seed{seed}"
    return np.asarray(saved[key], dtype=np.float64) if key in saved else None


def hidden_trajectories(run: Run) -> list[Path]:
    """One panel per rule: s_t of the first units along one test sequence, with the final weights (first seed)."""
    from rulelab.tasks.sequence import run_forward

    setup = _sequence_setup(run)
    if setup is None:
        return []
    scenario, seed, test, weights_file = setup
    specs = list(scenario.rules)
    cols = min(len(specs), 3)
    rows = -(-len(specs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.2 * rows), squeeze=False)
    with open_arrays(weights_file) as saved:
        for ax, spec in zip(axes.flat, specs):
            params = _weights(saved, spec.label, seed)
            ax.set_title(spec.label, fontsize=9)
            if params is None:
                ax.text(0.5, 0.5, "no weights", ha="center", transform=ax.transAxes)
                continue
            _, s, _ = run_forward(spec.network, params, test.X[0])
            for j in range(min(UNITS_SHOWN, s.shape[1])):
                ax.plot(np.arange(s.shape[0]), s[:, j], lw=1)
            ax.set_xlabel("step t")
            ax.set_ylabel("s_t (first units)")
            ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(specs):]:
        ax.axis("off")
    fig.suptitle(f"{run.name}: hidden states along test sequence 0 (seed {seed})")
    fig.tight_layout()
    return [_save(fig, run, "rnn-hidden-states")]


def loss_per_step(net, params: np.ndarray, X: np.ndarray, Y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Mean d_t at every step over the sequences.  A sequence classified from its last step is scored against its
    class at every step: how early the answer is there."""
    from rulelab.tasks.sequence import run_forward

    C, T = net.classes, net.steps
    total, count = np.zeros(T), np.zeros(T)
    for r in range(X.shape[0]):
        _, _, o = run_forward(net, params, X[r])
        y = Y[r].reshape(T, C)
        last_only = M[r, :-1].sum() == 0
        for t in range(T):
            target = y[-1] if last_only else y[t]
            if not last_only and M[r, t] == 0:
                continue
            d = (-np.log(max(float(o[t] @ target), 1e-300)) if net.output == "softmax"
                 else 0.5 * float(np.sum((o[t] - target) ** 2)))
            total[t] += d
            count[t] += 1
    return total / np.maximum(count, 1)


def _curves_per_rule(run: Run, measure: Callable[..., np.ndarray]):
    """A figure with one curve per rule, ``measure(net, params, test, n)`` on its saved weights (first seed),
    and a dashed grey curve for the initial weights; (fig, ax, seed, n), or None for other task kinds."""
    from rulelab.run.sequence import initial_sequence_params

    setup = _sequence_setup(run)
    if setup is None:
        return None
    scenario, seed, test, weights_file = setup
    n = min(EXAMPLES, test.n)
    net = scenario.rules[0].network
    fig, ax = plt.subplots(figsize=(7, 4.2))
    steps = np.arange(net.steps)
    start = measure(net, initial_sequence_params(scenario, net, seed), test, n)
    ax.plot(steps, start, color="0.5", ls="--", lw=1, label="initial weights")
    with open_arrays(weights_file) as saved:
        for spec in scenario.rules:
            params = _weights(saved, spec.label, seed)
            if params is not None:
                ax.plot(steps, measure(net, params, test, n), color=run.color(spec.label), lw=1.4, label=spec.label)
    return fig, ax, seed, n


def loss_per_step_figure(run: Run) -> list[Path]:
    drawn = _curves_per_rule(run, lambda net, params, test, n: loss_per_step(
        net, params, test.X[:n], test.Y[:n], test.M[:n]))
    if drawn is None:
        return []
    fig, ax, seed, n = drawn
    ax.set_xlabel("step t")
    ax.set_ylabel("mean loss d_t on test sequences")
    ax.set_title(f"{run.name}: loss at every step (seed {seed}, {n} test sequences)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [_save(fig, run, "rnn-loss-per-step")]


def gradient_norms(net, params: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Mean ‖∂d_T/∂h_{T−j}‖ over the sequences, j = 0 … T−1 steps back: the last step's loss backpropagated
    through time (full BPTT, whatever rule trained the net)."""
    from rulelab.rules.bptt import BPTT
    from rulelab.tasks.sequence import sequence_gradient

    last = np.zeros(net.steps)
    last[-1] = 1.0
    C, T = net.classes, net.steps
    norms = np.zeros(T)
    used = 0
    for r in range(X.shape[0]):
        y = Y[r].reshape(T, C).copy()
        y[:-1] = 0.0
        if net.output == "softmax" and y[-1].sum() == 0:  # padding at the last step (Reber): nothing to score
            continue
        _, _, per_step = sequence_gradient(BPTT(), net, params, X[r], y.ravel(), last, norms=True)
        norms += per_step[::-1]
        used += 1
    return norms / max(used, 1)


def gradient_norm_figure(run: Run) -> list[Path]:
    drawn = _curves_per_rule(run, lambda net, params, test, n: np.maximum(  # a log axis: no zeros
        gradient_norms(net, params, test.X[:n], test.Y[:n]), 1e-30))
    if drawn is None:
        return []
    fig, ax, seed, _ = drawn
    ax.set_yscale("log")
    ax.set_xlabel("steps back in time j")
    ax.set_ylabel("mean ‖∂d_T/∂h_{T−j}‖ (log scale)")
    ax.set_title(f"{run.name}: the last step's error backpropagated through time (seed {seed})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return [_save(fig, run, "rnn-gradient-norm-vs-steps-back")]


def sequence_figures(run: Run) -> list[Path]:
    """Every figure of a sequence run (nothing for other task kinds)."""
    return hidden_trajectories(run) + loss_per_step_figure(run) + gradient_norm_figure(run)


def task_length(resolved: dict) -> tuple[str, float] | None:
    """('delay' or 'steps', value) of a sequence task, or None."""
    task = resolved.get("task") or {}
    if not _recurrent(task):
        return None
    dataset = task.get("dataset") or {}
    if "delay" in dataset:
        return "delay", float(dataset["delay"])
    layers = (resolved.get("network") or {}).get("layers") or [[0]]
    return "steps", float(layers[0][0])


def accuracy_against_length(out: Path, runs: list) -> Path | None:
    """Over the tasks of one file: each rule's final test accuracy (mean and every seed) against the task's delay
    or sequence length; None unless every task is a sequence task."""
    points: dict[str, list[tuple[float, float]]] = {}
    axis = None
    for _, run in runs:
        found = task_length(run.resolved)
        if found is None:
            return None
        axis, value = found
        for label in run.labels:
            per_seed = run.series(label, "test_accuracy")
            for curve in per_seed.values():
                if curve:
                    points.setdefault(label, []).append((value, curve[max(curve)]))
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    cmap = plt.get_cmap("tab10")
    for k, (label, pts) in enumerate(points.items()):
        xs = sorted({x for x, _ in pts})
        means = [np.mean([a for x2, a in pts if x2 == x]) for x in xs]
        ax.scatter([x for x, _ in pts], [a for _, a in pts], color=cmap(k % 10), s=12, alpha=0.5)
        ax.plot(xs, means, color=cmap(k % 10), marker="o", lw=1.5, label=label)
    ax.set_xlabel(axis)
    ax.set_ylabel("final test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"final test accuracy against the {axis} (dots: seeds; line: mean)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = Path(out) / "figures" / f"accuracy-vs-{axis}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def chance_level(resolved: dict) -> float | None:
    """The accuracy of guessing the most likely class without looking (delayed recall: ½), or None."""
    task = resolved.get("task") or {}
    dataset = task.get("dataset") or {}
    if not _recurrent(task) or (resolved.get("network") or {}).get("output_activation") != "softmax":
        return None
    classes = ((resolved.get("network") or {}).get("layers") or [0, 0, 0])[-1]
    return 0.5 if dataset.get("name") == "delayed_recall" else 1.0 / max(int(classes), 1)


def sequence_verdicts(run: Run) -> str:
    """One sentence per rule of a sequence task: its mean final test accuracy, and whether that is no better than
    chance (a rule that fails says so)."""
    import html

    chance = chance_level(run.resolved)
    if chance is None:
        return ""
    lines = []
    for label in run.labels:
        finals = [curve[max(curve)] for curve in run.series(label, "test_accuracy").values() if curve]
        if not finals:
            continue
        mean = float(np.mean(finals))
        solved = sum(a >= 0.9 for a in finals)
        failed = sum(a <= chance + 0.05 for a in finals)
        seeds = len(finals)
        if failed == seeds:
            verdict = f"fails: at chance ({chance:.0%}) in every seed"
        elif solved == seeds:
            verdict = "solves it (≥ 90 %) in every seed"
        else:
            parts = [f"solves it (≥ 90 %) in {solved} of {seeds} seeds" if solved else "",
                     f"stays at chance ({chance:.0%}) in {failed}" if failed else "",
                     f"learns part of it in {seeds - solved - failed}" if seeds - solved - failed else ""]
            verdict = ", ".join(p for p in parts if p)
        lines.append(f"<li><b>{html.escape(label)}</b>: {mean:.1%} mean test accuracy over {seeds} seed(s) — "
                     f"{verdict}.</li>")
    return f"<p>In words:</p><ul>{''.join(lines)}</ul>" if lines else ""

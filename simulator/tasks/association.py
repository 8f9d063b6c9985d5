"""The association task kind: store patterns with a Hopfield rule, recall them from corrupted cues."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from rulelab.run.record import COMPLETED, RunRecord
from rulelab.scenario import TaskConfig

if TYPE_CHECKING:
    from rulelab.build import Plan


def association_conditions(task: TaskConfig) -> list[tuple[float | None, float]]:
    """(load α or None for the dataset's own patterns, cue flip fraction), in the order they run."""
    a = task.association
    return [(load, flip) for load in (a.loads or [None]) for flip in a.flip_fractions]


def train_associative(plan: Plan, record: RunRecord, progress: Callable[[int], None]) -> None:
    """Store patterns with the rule, recall them from corrupted cues; one logged step per condition."""
    from rulelab.core import hopfield as HF

    a, net, rule, seed, data = plan.task.association, plan.network, plan.rule, plan.seed, plan.data
    n = net.sizes[0]
    b = np.full(n, a.external_input - a.threshold)
    overlaps, not_converged = [], 0
    stored_for: dict[float | None, tuple[np.ndarray, np.ndarray]] = {}
    for step, (load, flip) in enumerate(association_conditions(plan.task), start=1):
        if load not in stored_for:
            if load is None:
                patterns = data.split.X_train
            else:  # a fresh random memory of round(α N) patterns for this load
                rng = np.random.default_rng([seed, 5, int(round(load * 1e6))])
                patterns = np.where(rng.random((max(1, round(load * n)), n)) < 0.5, -1.0, 1.0)
            start = time.perf_counter()
            W = np.ascontiguousarray(rule.store(np.asarray(patterns, dtype=np.float64)))
            record.wall_seconds += time.perf_counter() - start
            stored_for = {load: (patterns, W)}
        patterns, W = stored_for[load]
        p = len(patterns)
        cue_rng = np.random.default_rng([seed, 6, step])
        targets = np.arange(a.probes) % p
        V = patterns[targets].astype(np.float64).copy()
        flips = int(round(flip * n))
        for row in V:  # exactly round(f N) distinct units flipped per cue
            row[cue_rng.choice(n, flips, replace=False)] *= -1
        cues = V.copy()
        sweeps = np.zeros(a.probes, dtype=np.int64)
        converged = np.zeros(a.probes, dtype=np.bool_)
        energies = np.full((a.probes, a.max_sweeps + 1), np.nan)
        start = time.perf_counter()
        if a.mode == "async":
            seeds = cue_rng.integers(0, 2 ** 62, size=a.probes)
            HF.async_recall(W, b, V, seeds, a.max_sweeps, sweeps, converged, energies)
        else:
            HF.sync_recall(W, b, V, a.max_sweeps, sweeps, converged, energies)
        record.wall_seconds += time.perf_counter() - start
        record.forward_passes += int(sweeps.sum()) * n  # one unit update = one weighted sum
        states = HF.classify_states(V, targets, patterns)
        overlap = float(np.mean(np.sum(V * patterns[targets], axis=1) / n))
        overlaps.append(overlap)
        not_converged += int((~converged).sum())
        # Energy must never rise under asynchronous updates; count any rise so a test can insist on 0.
        rises = int(np.sum(np.diff(energies, axis=1) > 1e-9 * n))
        values = {"load": load if load is not None else p / n, "patterns": p, "flip_fraction": flip,
                  "overlap": overlap, "exact_recall": float(np.mean(states == HF.TARGET)),
                  "sweeps": float(sweeps.mean()), "converged": float(converged.mean()),
                  "energy_final": float(np.nanmean([e[s] for e, s in zip(energies, sweeps)])),
                  "energy_rises": rises, "wall_seconds": record.wall_seconds,
                  "forward_passes": record.forward_passes, "overlap_mean": float(np.mean(overlaps))}
        for code, name in enumerate(HF.STATE_NAMES):
            values[f"final_{name}"] = float(np.mean(states == code))
        record.rows.extend((step, k, float(v)) for k, v in values.items())
        record.epochs_run = step
        if a.examples:
            k = min(a.examples, a.probes)
            record.artifacts[f"recall_step{step}_cues"] = cues[:k]
            record.artifacts[f"recall_step{step}_recalled"] = V[:k]
            record.artifacts[f"recall_step{step}_targets"] = patterns[targets[:k]]
        progress(1)
    params = np.zeros(net.n_params, dtype=net.np_dtype)
    net.weights(params, 0)[:] = W
    net.bias(params, 0)[:] = b
    record.params = params
    record.status = COMPLETED
    if not_converged:
        record.message = f"{not_converged} recalls ended at the {a.max_sweeps}-sweep limit without a fixed point"

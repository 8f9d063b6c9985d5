"""The association task kind: store patterns with a Hopfield rule, recall them from corrupted cues.

Recall runs on the rule's exact weights (numerator and divisor, see
:class:`rulelab.core.hopfield.StoredWeights`), so that ties of the local field are decided
by the documented rule v = +1 when net ≥ 0, not by rounding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from rulelab.run.interrupts import check_interrupt, next_chunk
from rulelab.run.record import COMPLETED, RunRecord
from rulelab.scenario import TaskConfig

if TYPE_CHECKING:
    from rulelab.build import Plan

# Explicit cues of a net this small are spelt out in the run's note when they fall into a 2-cycle.
SPELL_OUT_UNITS = 12
SPELL_OUT_CUES = 4
RECALL_CHUNK_SECONDS = 0.1  # recall work between two looks at the Ctrl-C flag


def association_conditions(task: TaskConfig) -> list[tuple[float | None, float]]:
    """(load α or None for the dataset's own patterns, cue flip fraction), in the order they run.

    Explicit cues are one condition (the dataset's patterns, no flips)."""
    a = task.association
    if a.cues is not None:
        return [(None, 0.0)]
    return [(load, flip) for load in (a.loads or [None]) for flip in a.flip_fractions]


def unit_bias(task: TaskConfig, n: int) -> np.ndarray:
    """b_i = I_i − T_i, from one number for every unit or one per unit."""
    a = task.association
    return np.broadcast_to(np.asarray(a.external_input, dtype=np.float64), (n,)) - \
        np.broadcast_to(np.asarray(a.threshold, dtype=np.float64), (n,))


@dataclass
class Recall:
    """One condition's recall: final states and what happened to each probe."""

    final: np.ndarray
    sweeps: np.ndarray
    converged: np.ndarray
    cycled: np.ndarray
    energies: np.ndarray  # true energies (divided back by the weights' divisor)
    seconds: float


def _cues(task: TaskConfig, patterns: np.ndarray, flip: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """(cues, index of each cue's target pattern)."""
    a = task.association
    n = patterns.shape[1]
    if a.cues is not None:
        cues = np.asarray(a.cues, dtype=np.float64)
        # A written cue's target is the stored pattern it overlaps most (the first of equals).
        return cues, np.argmax(cues @ patterns.T, axis=1)
    targets = np.arange(a.probes) % len(patterns)
    V = patterns[targets].astype(np.float64).copy()
    flips = int(round(flip * n))
    for row in V:  # exactly round(f N) distinct units flipped per cue
        row[rng.choice(n, flips, replace=False)] *= -1
    return V, targets


def _recall(task: TaskConfig, stored, b: np.ndarray, cues: np.ndarray, rng: np.random.Generator) -> Recall:
    """Recall every cue with the exact weights: fields numerator·v + divisor·b, energies divided back."""
    from rulelab.core import hopfield as HF

    a = task.association
    W = np.ascontiguousarray(stored.numerator, dtype=np.float64)
    b_scaled = np.ascontiguousarray(stored.divisor * b)  # exact when divisor·b is a whole number
    V = np.ascontiguousarray(cues.copy())
    count = len(V)
    sweeps = np.zeros(count, dtype=np.int64)
    converged = np.zeros(count, dtype=np.bool_)
    cycled = np.zeros(count, dtype=np.bool_)
    energies = np.full((count, a.max_sweeps + 1), np.nan)
    seeds = rng.integers(0, 2 ** 62, size=count) if a.mode == "async" else None
    seconds = 0.0
    # Probes are recalled in chunks of whole blocks (about RECALL_CHUNK_SECONDS each), so that Ctrl-C
    # is acted on between chunks.  Every probe is independent and a chunk holds whole SYNC_BLOCKs:
    # the numbers are those of one call over all probes.
    blocks, lo = 1, 0
    while lo < count:
        hi = min(count, lo + blocks * HF.SYNC_BLOCK)
        start = time.perf_counter()
        if a.mode == "async":
            HF.async_recall(W, b_scaled, V[lo:hi], seeds[lo:hi], a.max_sweeps, sweeps[lo:hi], converged[lo:hi],
                            energies[lo:hi])
        else:
            HF.sync_recall(W, b_scaled, V[lo:hi], a.max_sweeps, sweeps[lo:hi], converged[lo:hi], energies[lo:hi],
                           cycled[lo:hi])
        elapsed = time.perf_counter() - start
        seconds += elapsed
        per_block = elapsed * HF.SYNC_BLOCK / (hi - lo)
        lo = hi
        if lo < count:
            check_interrupt()
        blocks = next_chunk(per_block, RECALL_CHUNK_SECONDS, most=1 << 20)
    return Recall(V, sweeps, converged, cycled, energies / stored.divisor, seconds)


def sync_trajectories(stored, b: np.ndarray, cues: np.ndarray, sweeps: np.ndarray) -> np.ndarray:
    """States after each synchronous sweep (cues × (most sweeps + 1) × N; NaN after a probe stopped),
    made by the same compiled sweep, one sweep at a time."""
    from rulelab.core import hopfield as HF

    W = np.ascontiguousarray(stored.numerator, dtype=np.float64)
    b_scaled = np.ascontiguousarray(stored.divisor * b)
    steps = int(sweeps.max()) if len(sweeps) else 0
    out = np.full((len(cues), steps + 1, cues.shape[1]), np.nan)
    V = np.ascontiguousarray(cues.copy())
    one = np.zeros(len(V), dtype=np.int64)
    flags = np.zeros(len(V), dtype=np.bool_)
    for t in range(steps + 1):
        for p in range(len(V)):
            if t <= sweeps[p]:
                out[p, t] = V[p]
        HF.sync_recall(W, b_scaled, V, 1, one, flags, np.zeros((len(V), 2)), flags.copy())
    return out


def _spell(state: np.ndarray) -> str:
    return "(" + ", ".join("1" if v > 0 else "−1" for v in state) + ")"


def _cycle_note(cues: np.ndarray, recall: Recall, trajectory: np.ndarray | None) -> str:
    """What to say about probes caught in 2-cycles (the two states spelt out for a few small written cues)."""
    count = int(recall.cycled.sum())
    note = f"{count} of {len(cues)} recalls fell into a 2-cycle (synchronous updates: two states alternate, " \
           "no fixed point)"
    if trajectory is not None and cues.shape[1] <= SPELL_OUT_UNITS and len(cues) <= SPELL_OUT_CUES:
        loops = [f"cue {_spell(cues[p])}: {_spell(trajectory[p, recall.sweeps[p] - 1])} ↔ "
                 f"{_spell(trajectory[p, recall.sweeps[p]])}" for p in np.flatnonzero(recall.cycled)]
        note += "; " + "; ".join(loops)
    return note


def train_associative(plan: Plan, record: RunRecord, progress: Callable[[int], None]) -> None:
    """Store patterns with the rule, recall them from corrupted cues; one logged step per condition."""
    from rulelab.core import hopfield as HF

    task, net, rule, seed, data = plan.task, plan.network, plan.rule, plan.seed, plan.data
    a = task.association
    n = net.sizes[0]
    b = unit_bias(task, n)
    explicit = a.cues is not None
    overlaps, not_converged, notes = [], 0, []
    stored_for: dict[float | None, tuple[np.ndarray, object]] = {}
    for step, (load, flip) in enumerate(association_conditions(task), start=1):
        if load not in stored_for:
            if load is None:
                patterns = data.split.X_train
            else:  # a fresh random memory of round(α N) patterns for this load
                rng = np.random.default_rng([seed, 5, int(round(load * 1e6))])
                patterns = np.where(rng.random((max(1, round(load * n)), n)) < 0.5, -1.0, 1.0)
            start = time.perf_counter()
            stored = rule.store_exact(np.asarray(patterns, dtype=np.float64))
            record.wall_seconds += time.perf_counter() - start
            stored_for = {load: (patterns, stored)}
        patterns, stored = stored_for[load]
        p = len(patterns)
        cue_rng = np.random.default_rng([seed, 6, step])
        cues, targets = _cues(task, patterns, flip, cue_rng)
        recall = _recall(task, stored, b, cues, cue_rng)
        V, sweeps, converged, energies = recall.final, recall.sweeps, recall.converged, recall.energies
        record.wall_seconds += recall.seconds
        record.forward_passes += int(sweeps.sum()) * n  # one unit update = one weighted sum
        states = HF.classify_states(V, targets, patterns)
        states[recall.cycled] = HF.TWO_CYCLE
        overlap = float(np.mean(np.sum(V * patterns[targets], axis=1) / n))
        overlaps.append(overlap)
        not_converged += int((~converged & ~recall.cycled).sum())
        # Energy must never rise under asynchronous updates; count any rise so a test can insist on 0.
        rises = int(np.sum(np.diff(energies, axis=1) > 1e-9 * n))
        if explicit:  # the flips a written cue carries: its distance from its target, as a fraction
            flip = float(np.mean(cues != patterns[targets]))
        values = {"load": load if load is not None else p / n, "patterns": p, "flip_fraction": flip,
                  "overlap": overlap, "exact_recall": float(np.mean(states == HF.TARGET)),
                  "sweeps": float(sweeps.mean()), "converged": float(converged.mean()),
                  "energy_final": float(np.nanmean([e[s] for e, s in zip(energies, sweeps)])),
                  "energy_rises": rises, "wall_seconds": record.wall_seconds,
                  "forward_passes": record.forward_passes, "overlap_mean": float(np.mean(overlaps))}
        for code, name in enumerate(HF.STATE_NAMES):
            values[f"final_{name}"] = float(np.mean(states == code))
        if a.mode == "sync":  # only synchronous updates can cycle
            values[f"final_{HF.TWO_CYCLE_NAME}"] = float(np.mean(states == HF.TWO_CYCLE))
        record.rows.extend((step, k, float(v)) for k, v in values.items())
        record.epochs_run = step
        # Written cues recalled synchronously: keep every state on the way (a few cues, by hand).
        trajectory = sync_trajectories(stored, b, cues, sweeps) if explicit and a.mode == "sync" else None
        if recall.cycled.any():
            notes.append(_cycle_note(cues, recall, trajectory))
        if a.examples:
            k = min(a.examples, len(cues))
            record.artifacts[f"recall_step{step}_cues"] = cues[:k]
            record.artifacts[f"recall_step{step}_recalled"] = V[:k]
            record.artifacts[f"recall_step{step}_targets"] = patterns[targets[:k]]
            if trajectory is not None:
                record.artifacts[f"recall_step{step}_states"] = trajectory[:k]
        progress(1)
        check_interrupt()  # a condition is one compiled recall: stop between conditions
    params = np.zeros(net.n_params, dtype=net.np_dtype)
    net.weights(params, 0)[:] = stored.weights
    net.bias(params, 0)[:] = b
    record.params = params
    record.status = COMPLETED
    if not_converged:
        notes.append(f"{not_converged} recalls ended at the {a.max_sweeps}-sweep limit without a fixed point")
    record.message = "; ".join(notes)

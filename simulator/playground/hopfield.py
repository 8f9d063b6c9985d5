"""The Hopfield view: store drawn patterns with a rule, recall one cue, every unit update on the way.

The request is an association scenario (patterns as a table, the cue written out), validated
like any scenario file, and stored and recalled as :mod:`rulelab.tasks.association` does it:
the rule's exact weights (numerator and divisor), fields numerator·v + divisor·b, and the
same recall seed ([seed, 6, 1]).  :func:`async_trace` is the compiled asynchronous recall of
:func:`rulelab.core.hopfield.async_recall_one` that also records each unit it visits, so the
page can replay the recall one update at a time with the energy after each; its final state,
sweeps and energies are the engine's (``tests/test_playground_server.py`` checks them, and that
``rulelab run`` on the exported scenario gives the same overlap, sweeps and final energy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from rulelab.build import prepare_data
from rulelab.core import hopfield as HF
from rulelab.core.hopfield import _next_random
from rulelab.playground.state import HOPFIELD_LETTERS, Opened
from rulelab.tasks.association import unit_bias


@njit(cache=True)
def async_trace(W, b, v, seed, max_sweeps, units, values, energies):
    """Asynchronous recall in place, as async_recall_one (same order, same ties), recording every visit:
    units[k] the unit visited, values[k] its state after, energies[k] E after it (E = −½ vᵀWv − bᵀv).
    Returns (visits made, sweeps run, converged)."""
    n = v.shape[0]
    h = np.dot(W, v)
    e = 0.0
    for i in range(n):
        e -= 0.5 * v[i] * h[i] + b[i] * v[i]
    order = np.arange(n)
    state = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)
    visit = 0
    for sweep in range(max_sweeps):
        for k in range(n - 1, 0, -1):  # Fisher–Yates, as async_recall_one
            state, r = _next_random(state)
            j = np.int64(r % np.uint64(k + 1))
            order[k], order[j] = order[j], order[k]
        changed = 0
        for k in range(n):
            i = order[k]
            new = 1.0 if h[i] + b[i] >= 0.0 else -1.0
            if new != v[i]:
                delta = new - v[i]
                # ΔE = −Δv_i (h_i + b_i) with w_ii = 0, before h moves
                e -= delta * (h[i] + b[i])
                v[i] = new
                row = W[i]
                for j in range(n):
                    h[j] += delta * row[j]
                changed += 1
            units[visit] = i
            values[visit] = v[i]
            energies[visit] = e
            visit += 1
        if changed == 0:
            return visit, sweep + 1, True
    return visit, max_sweeps, False


def hopfield_scenario(patterns: list[list[float]], cue: list[float], rule: str, mode: str, seed: int,
                      max_sweeps: int, width: int, height: int) -> dict[str, Any]:
    """The association scenario behind the view (what it exports)."""
    n = len(cue)
    return {
        "name": "playground-hopfield",
        "description": f"Hopfield patterns drawn on a {width}×{height} grid in rulelab playground",
        "seed": seed, "repeats": 1,
        "task": {"kind": "association",
                 "dataset": {"name": "table", "inputs": patterns, "labels": list(range(len(patterns)))},
                 "association": {"cues": [cue], "mode": mode, "max_sweeps": max_sweeps}},
        "network": {"layers": [n, n], "activation": "sign"},
        "rules": [{"rule": rule}],
    }


def default_patterns() -> tuple[int, int, list[list[float]]]:
    """Three letters of rulelab's letters dataset (10 × 10, ±1) to start from."""
    from rulelab.data.datasets import DATASETS

    info = DATASETS["letters"]
    data = info.make(info.Options(letters=HOPFIELD_LETTERS), np.random.default_rng(0), None)
    return 10, 10, data.X.tolist()


def recall(opened: Opened) -> dict[str, Any]:
    """Store the scenario's patterns, recall its cue; the whole trajectory for the page to replay."""
    scenario = opened.scenario
    seed = scenario.seeds[0]
    spec = scenario.rules[0]
    rule = spec.rule(spec.params)
    patterns = np.asarray(prepare_data(scenario, seed).split.X_train, dtype=np.float64)
    n = patterns.shape[1]
    stored = rule.store_exact(patterns)
    b = unit_bias(scenario.task, n)
    a = scenario.task.association
    W = np.ascontiguousarray(stored.numerator, dtype=np.float64)
    b_scaled = np.ascontiguousarray(stored.divisor * b)
    cue = np.asarray(a.cues[0], dtype=np.float64)
    v = np.ascontiguousarray(cue.copy())
    if a.mode == "async":
        # The seed train_associative gives its one explicit cue: [seed, 6, step 1], one draw per cue.
        recall_seed = int(np.random.default_rng([seed, 6, 1]).integers(0, 2 ** 62, size=1)[0])
        size = a.max_sweeps * n
        units, values, energies = np.zeros(size, np.int64), np.zeros(size), np.zeros(size)
        visits, sweeps, converged = async_trace(W, b_scaled, v, recall_seed, a.max_sweeps, units, values, energies)
        engine_energies = np.full(a.max_sweeps + 1, np.nan)  # the engine's own, as metrics.csv reports them
        HF.async_recall_one(W, b_scaled, cue.copy(), recall_seed, a.max_sweeps, engine_energies)
        final_energy = float(engine_energies[sweeps]) / stored.divisor
        steps = {"units": units[:visits].tolist(), "values": values[:visits].astype(int).tolist(),
                 "energies": (energies[:visits] / stored.divisor).tolist()}
        cycled = False
    else:
        states, energies_sync, sweeps, converged, cycled, final_energy = _sync_steps(W, b_scaled, v, a.max_sweeps)
        final_energy /= stored.divisor
        v = states[-1].copy()
        steps = {"states": states.astype(int).tolist(), "energies": (energies_sync / stored.divisor).tolist()}
    start_energy = float(HF.energy(W, b_scaled, cue)) / stored.divisor
    overlaps = patterns @ v / n
    target = int(np.argmax(cue @ patterns.T))  # a written cue's target: the pattern it overlaps most
    state = int(HF.classify_states(v[None, :], np.array([target]), patterns)[0])
    return {"view": "hopfield", "mode": a.mode, "n": n, "cue": cue.astype(int).tolist(),
            "final": v.astype(int).tolist(), "start_energy": start_energy,
            "final_energy": final_energy, "sweeps": int(sweeps),
            "converged": bool(converged), "cycled": bool(cycled), "target": target,
            "overlap": float(overlaps[target]), "overlaps": overlaps.tolist(),
            "outcome": "two_cycle" if cycled else HF.STATE_NAMES[state], "steps": steps,
            "weights": (stored.numerator / stored.divisor).round(6).tolist() if n <= 64 else None}


def _sync_steps(W: np.ndarray, b: np.ndarray, cue: np.ndarray, max_sweeps: int):
    """States after each synchronous sweep (with the engine's own sweep, one at a time) and their energies."""
    V = np.ascontiguousarray(cue[None, :].copy())
    sweeps, converged, cycled = np.zeros(1, np.int64), np.zeros(1, np.bool_), np.zeros(1, np.bool_)
    energies = np.full((1, max_sweeps + 1), np.nan)
    HF.sync_recall(W, b, V.copy(), max_sweeps, sweeps, converged, energies, cycled)
    states = [cue.copy()]
    one, flags = np.zeros(1, np.int64), np.zeros(1, np.bool_)
    for _ in range(int(sweeps[0])):
        HF.sync_recall(W, b, V, 1, one, flags, np.zeros((1, 2)), flags.copy())
        states.append(V[0].copy())
    path = np.array(states)
    energy = np.array([HF.energy(W, b, s) for s in path])
    return path, energy, int(sweeps[0]), bool(converged[0]), bool(cycled[0]), float(energies[0, sweeps[0]])

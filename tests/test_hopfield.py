"""Hopfield networks: storage rules, recall dynamics, energy, capacity, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.rules.hopfield_hebbian import HopfieldHebbian
from rulelab.rules.pseudo_inverse import PseudoInverse
from rulelab.rules.storkey import Storkey
from rulelab.core import hopfield as HF
from tests.conftest import ROOT


def recall(W, cue, mode="async", seed=0, sweeps=20, b=None):
    V = np.array([cue], dtype=float)
    n = V.shape[1]
    b = np.zeros(n) if b is None else b
    s, c = np.zeros(1, np.int64), np.zeros(1, np.bool_)
    e = np.full((1, sweeps + 1), np.nan)
    if mode == "async":
        HF.async_recall(W, b, V, np.array([seed]), sweeps, s, c, e)
    else:
        HF.sync_recall(W, b, V, sweeps, s, c, e)
    return V[0], int(s[0]), bool(c[0]), e[0]


def test_three_neuron_example_by_hand():
    """Store ξ = (1, −1, 1) with the outer-product rule and recall it from (1, 1, 1).

    W = (1/3)(ξξᵀ − I):  w12 = w23 = −1/3, w13 = 1/3.  From v = (1, 1, 1): net = (0, −2/3, 0),
    so unit 2 turns to −1 (units 1 and 3 stay at +1 since net ≥ 0 keeps v = 1);
    E falls from −½ vᵀWv = −½·(−2/3) = 1/3 to −1 at ξ, a fixed point.
    """
    xi = np.array([[1.0, -1.0, 1.0]])
    W = HopfieldHebbian().store(xi)
    np.testing.assert_allclose(W, np.array([[0, -1, 1], [-1, 0, -1], [1, -1, 0]]) / 3)
    assert HF.energy(W, np.zeros(3), np.array([1.0, 1.0, 1.0])) == pytest.approx(1 / 3)
    assert HF.energy(W, np.zeros(3), xi[0]) == pytest.approx(-1.0)
    for mode in ("async", "sync"):
        v, sweeps, converged, energies = recall(W, [1.0, 1.0, 1.0], mode)
        np.testing.assert_array_equal(v, xi[0])
        assert converged and sweeps == 2  # one sweep that changes, one that confirms the fixed point
        np.testing.assert_allclose(energies[:3], [1 / 3, -1.0, -1.0])
    # The negation is a fixed point too (net = −(2/3) ξ); and from (−1, −1, −1) every net is 0 or
    # +2/3, so the convention "v = 1 if net ≥ 0" breaks the tie towards ξ, not −ξ.
    v, sweeps, *_ = recall(W, -xi[0])
    np.testing.assert_array_equal(v, -xi[0])
    assert sweeps == 1
    v, *_ = recall(W, [-1.0, -1.0, -1.0])
    np.testing.assert_array_equal(v, xi[0])
    # A threshold T or external input I shifts net_i = Σ w_ij v_j + I_i − T_i.
    v, *_ = recall(W, [1.0, 1.0, 1.0], b=np.array([0.0, 1.0, 0.0]))  # I_2 = 1 outweighs net −2/3
    np.testing.assert_array_equal(v, [1.0, 1.0, 1.0])


def test_storage_rules_against_naive_loops():
    rng = np.random.default_rng(0)
    patterns = np.where(rng.random((5, 12)) < 0.5, -1.0, 1.0)
    n = 12
    hebb = sum(np.outer(p, p) for p in patterns) / n
    np.fill_diagonal(hebb, 0)
    np.testing.assert_allclose(HopfieldHebbian().store(patterns), hebb)
    W = np.zeros((n, n))  # Storkey 1997, element by element
    for xi in patterns:
        h = lambda i, j: sum(W[i, k] * xi[k] for k in range(n) if k not in (i, j))  # noqa: E731
        new = W.copy()
        for i in range(n):
            for j in range(n):
                if i != j:
                    new[i, j] = W[i, j] + (xi[i] * xi[j] - xi[i] * h(j, i) - h(i, j) * xi[j]) / n
        W = new
    np.testing.assert_allclose(Storkey().store(patterns), W, atol=1e-12)
    P = PseudoInverse().store(patterns)
    np.testing.assert_allclose(P, P.T, atol=1e-12)
    assert np.all(np.diag(P) == 0)


def test_pseudo_inverse_keeps_every_pattern_a_fixed_point_up_to_p_close_to_n():
    rng = np.random.default_rng(1)
    n = 100
    for p in (10, 50, 90, 98):
        patterns = np.where(rng.random((p, n)) < 0.5, -1.0, 1.0)
        W = PseudoInverse().store(patterns)
        fixed = np.where(patterns @ W.T >= 0, 1.0, -1.0)
        np.testing.assert_array_equal(fixed, patterns)
    with pytest.raises(ValueError, match="linearly dependent"):
        PseudoInverse().store(np.vstack([patterns[:3], patterns[:1]]))


def test_async_energy_never_increases():
    rng = np.random.default_rng(2)
    n = 200
    patterns = np.where(rng.random((40, n)) < 0.5, -1.0, 1.0)  # beyond capacity: long, messy descents
    W = HopfieldHebbian().store(patterns)
    V = np.where(rng.random((30, n)) < 0.5, -1.0, 1.0)
    b = rng.normal(0, 0.1, n)
    s, c = np.zeros(30, np.int64), np.zeros(30, np.bool_)
    e = np.full((30, 41), np.nan)
    HF.async_recall(W, b, V, np.arange(30), 40, s, c, e)
    for p, (row, k) in enumerate(zip(e, s)):
        steps = np.diff(row[:k + 1])
        assert np.all(steps <= 1e-12) and steps[0] < 0
        assert row[k] == pytest.approx(HF.energy(W, b, V[p]))  # the tracked energy is the true energy
    assert c.all()  # asynchronous dynamics always reach a fixed point


def test_async_recall_is_seeded_and_thread_independent():
    import numba

    rng = np.random.default_rng(3)
    patterns = np.where(rng.random((10, 100)) < 0.5, -1.0, 1.0)
    W = HopfieldHebbian().store(patterns)
    cues = patterns.copy()
    cues[:, :20] *= -1
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        V = cues.copy()
        s, c = np.zeros(10, np.int64), np.zeros(10, np.bool_)
        HF.async_recall(W, np.zeros(100), V, np.arange(10), 20, s, c, np.zeros((10, 21)))
        results.append((V, s))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_sync_recall_two_cycle_ends_at_the_sweep_limit():
    # Two units that each copy the other's opposite oscillate under synchronous updates.
    W = np.array([[0.0, -1.0], [-1.0, 0.0]])
    v, sweeps, converged, _ = recall(W, [1.0, 1.0], mode="sync", sweeps=7)
    assert not converged and sweeps == 7
    v, sweeps, converged, _ = recall(W, [1.0, 1.0], mode="async", sweeps=7)
    assert converged  # asynchronous updates settle


def test_final_state_classification():
    patterns = np.array([[1.0, 1, 1, 1], [1, -1, 1, -1]])
    final = np.array([[1.0, 1, 1, 1], [-1, -1, -1, -1], [1, -1, 1, -1], [1, 1, -1, -1]])
    states = HF.classify_states(final, np.array([0, 0, 0, 0]), patterns)
    assert states.tolist() == [HF.TARGET, HF.NEGATION, HF.OTHER, HF.SPURIOUS]


@pytest.fixture(scope="module")
def capacity():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "hopfield-capacity.yaml", repeats=2,
                             overrides=["task.association.loads=[0.1, 0.138, 0.25, 0.5, 0.9]",
                                        "task.association.flip_fractions=[0.0]"])
    table = {}
    for r in run_scenario(scenario):
        loads = {e: v for e, m, v in r.all_rows() if m == "load"}
        for e, m, v in r.all_rows():
            if m == "overlap":
                table.setdefault((r.label, round(loads[e], 3)), []).append(v)
    return {k: float(np.mean(v)) for k, v in table.items()}


def test_hebbian_capacity_collapses_near_0138(capacity):
    assert capacity[("hopfield_hebbian", 0.1)] > 0.99
    assert capacity[("hopfield_hebbian", 0.138)] > 0.9  # AGS: ≈ 0.967 just below α_c (finite N: a bit less)
    assert capacity[("hopfield_hebbian", 0.25)] < 0.5


def test_storkey_holds_more_than_hebbian_and_pseudo_inverse_most(capacity):
    assert capacity[("storkey", 0.25)] > 0.99 > capacity[("hopfield_hebbian", 0.25)]
    assert capacity[("pseudo_inverse", 0.9)] == 1.0  # every pattern a fixed point at p = 0.9 N


def test_letters_scenario_records_everything():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "hopfield-letters.yaml", repeats=1)
    records = run_scenario(scenario)
    for r in records:
        names = {m for _, m, _ in r.all_rows()}
        assert {"overlap", "exact_recall", "sweeps", "final_target", "final_negation", "final_other_pattern",
                "final_spurious", "energy_rises"} <= names
        assert all(v == 0 for _, m, v in r.all_rows() if m == "energy_rises")
        fractions = [sum(v for e2, m, v in r.all_rows() if e2 == e and m.startswith("final_")) for e in (1, 2, 3)]
        np.testing.assert_allclose(fractions, 1.0)
        assert r.artifacts["recall_step1_cues"].shape == (6, 100)
    by_rule = {r.label: r.final("overlap_mean") for r in records}
    assert by_rule["pseudo_inverse"] > by_rule["hopfield_hebbian"]


@pytest.mark.parametrize("change,message", [
    ({"dataset": {"name": "random_patterns", "encoding": "binary", "length": 100}},
     "task.dataset: Hopfield patterns must be bipolar (±1); got values 0, 1"),
    ({"dataset": {"name": "random_patterns", "length": 64}}, "network.layers[0]: got 100 inputs; the dataset has 64"),
    ({"association": {"loads": [0.5, 1.2]}},
     "task.association.loads: rules[0] (pseudo_inverse): the pseudo-inverse rule stores fewer patterns than units; got 120 patterns for 100 units"),
    ({"association": {"flip_fractions": [1.5]}}, "task.association.flip_fractions[0]: got 1.5; expected a fraction in [0, 1]"),
])
def test_bad_association_input(write_scenario, change, message):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "bad", "task": {"kind": "association", "dataset": {"name": "random_patterns", "length": 100}},
           "network": {"layers": [100, 100], "activation": "sign"}, "rules": [{"rule": "pseudo_inverse"}]}
    raw["task"].update(change)
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_scenario(raw))
    assert message in info.value.format()


def test_rules_and_tasks_must_match(write_scenario):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "bad", "task": {"kind": "association", "dataset": {"name": "random_patterns", "length": 10}},
           "network": {"layers": [10, 10], "activation": "sign"}, "rules": [{"rule": "perceptron"}]}
    with pytest.raises(ScenarioError, match="rules\\[0\\].rule: rule 'perceptron' does not store patterns"):
        load_scenario(write_scenario(raw))
    raw = {"name": "bad", "task": {"dataset": "xor"}, "network": {"layers": [2, 2], "activation": "sign"},
           "rules": [{"rule": "storkey"}]}
    with pytest.raises(ScenarioError, match="rule 'storkey' stores patterns: use it with task kind: association"):
        load_scenario(write_scenario(raw))
    raw = {"name": "bad", "task": {"kind": "association", "dataset": {"name": "random_patterns", "length": 10}},
           "network": {"layers": [10, 5], "activation": "sign"}, "rules": [{"rule": "storkey"}]}
    with pytest.raises(ScenarioError, match="a Hopfield net is one square layer with sign units"):
        load_scenario(write_scenario(raw))

"""Hopfield networks: storage rules, recall dynamics, energy, capacity, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.rules.hopfield_hebbian import HopfieldHebbian
from rulelab.rules.pseudo_inverse import PseudoInverse
from rulelab.rules.storkey import Storkey
from rulelab.core import hopfield as HF
from tests.conftest import ROOT


def recall(W, cue, mode="async", seed=0, sweeps=20, b=None, with_cycle=False):
    V = np.array([cue], dtype=float)
    n = V.shape[1]
    b = np.zeros(n) if b is None else b
    s, c, cyc = np.zeros(1, np.int64), np.zeros(1, np.bool_), np.zeros(1, np.bool_)
    e = np.full((1, sweeps + 1), np.nan)
    if mode == "async":
        HF.async_recall(W, b, V, np.array([seed]), sweeps, s, c, e)
    else:
        HF.sync_recall(W, b, V, sweeps, s, c, e, cyc)
    if with_cycle:
        return V[0], int(s[0]), bool(c[0]), e[0], bool(cyc[0])
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


def test_sync_recall_detects_a_two_cycle():
    # Two units that each copy the other's opposite oscillate under synchronous updates:
    # (1, 1) → (−1, −1) → (1, 1): the second sweep repeats the cue, so recall stops there.
    W = np.array([[0.0, -1.0], [-1.0, 0.0]])
    v, sweeps, converged, energies, cycled = recall(W, [1.0, 1.0], mode="sync", sweeps=7, with_cycle=True)
    assert cycled and not converged and sweeps == 2
    np.testing.assert_array_equal(v, [1.0, 1.0])
    np.testing.assert_array_equal(energies[:3], [1.0, 1.0, 1.0])  # E = −½ vᵀWv = 1 in both states
    v, sweeps, converged, _ = recall(W, [1.0, 1.0], mode="async", sweeps=7)
    assert converged  # asynchronous updates settle
    # A fixed point is not a cycle, and a probe that is still moving at the limit is neither.
    *_, cycled = recall(W, [1.0, -1.0], mode="sync", with_cycle=True)
    assert not cycled
    W3 = np.array([[0.0, -1.0, 1.0], [-1.0, 0.0, -1.0], [1.0, -1.0, 0.0]])
    v, sweeps, converged, _, cycled = recall(W3, [1.0, 1.0, -1.0], mode="sync", sweeps=1, with_cycle=True)
    assert (sweeps, converged, cycled) == (1, False, False)  # one sweep cannot show a cycle yet
    np.testing.assert_array_equal(v, [-1.0, 1.0, 1.0])


def test_sync_cycle_detection_against_a_slow_loop():
    """Random symmetric nets, many cues: every probe ends as a plain NumPy loop says (fixed point, 2-cycle)."""
    rng = np.random.default_rng(9)
    for trial in range(5):
        n = 30
        A = rng.normal(size=(n, n))
        W = np.round(A + A.T)  # whole numbers: the reference loop decides ties exactly too
        np.fill_diagonal(W, 0.0)
        cues = np.where(rng.random((70, n)) < 0.5, -1.0, 1.0)  # more than one SYNC_BLOCK
        V = cues.copy()
        s, c, cyc = np.zeros(70, np.int64), np.zeros(70, np.bool_), np.zeros(70, np.bool_)
        HF.sync_recall(W, np.zeros(n), V, 50, s, c, np.full((70, 51), np.nan), cyc)
        for p, cue in enumerate(cues):
            states = [cue]
            while True:
                nxt = np.where(W @ states[-1] >= 0, 1.0, -1.0)
                if np.array_equal(nxt, states[-1]):
                    kind = "fixed"
                    break
                if len(states) > 1 and np.array_equal(nxt, states[-2]):
                    kind = "cycle"
                    break
                states.append(nxt)
            assert (bool(c[p]), bool(cyc[p])) == (kind == "fixed", kind == "cycle")
            assert s[p] == len(states)
            np.testing.assert_array_equal(V[p], nxt)


def test_hebbian_ties_are_decided_exactly():
    """Issue 16 item 2: N = 200, p = 40. The local fields are whole numbers over N, many exactly 0;
    every exact tie must go to +1 (v = 1 when net ≥ 0), whatever the summation order.  (Summed as
    floats from W = ΞᵀΞ/N, 59 of these 128 ties came out slightly negative and went to −1.)"""
    rng = np.random.default_rng(1)
    n, p = 200, 40
    patterns = np.where(rng.random((p, n)) < 0.5, -1.0, 1.0)
    states = np.where(rng.random((40, n)) < 0.5, -1.0, 1.0)
    stored = HopfieldHebbian().store_exact(patterns)
    ints = patterns.astype(np.int64)
    counts = ints.T @ ints
    np.fill_diagonal(counts, 0)
    np.testing.assert_array_equal(stored.numerator, counts)
    assert stored.divisor == n
    np.testing.assert_allclose(HopfieldHebbian().store(patterns), counts / n, rtol=1e-15)
    fields = states.astype(np.int64) @ counts  # N × the local field of each unit in each state, exactly
    assert (fields == 0).sum() == 128
    V = states.copy()
    s, c, cyc = np.zeros(40, np.int64), np.zeros(40, np.bool_), np.zeros(40, np.bool_)
    HF.sync_recall(stored.numerator, np.zeros(n), V, 1, s, c, np.full((40, 2), np.nan), cyc)
    np.testing.assert_array_equal(V, np.where(fields >= 0, 1.0, -1.0))
    # Asynchronous recall ends in states that are fixed points of the exact rule.
    V = patterns.copy()
    V[:, :20] *= -1
    s, c = np.zeros(p, np.int64), np.zeros(p, np.bool_)
    HF.async_recall(stored.numerator, np.zeros(n), V, np.arange(p), 50, s, c, np.full((p, 51), np.nan))
    assert c.all()
    exact = V.astype(np.int64) @ counts
    np.testing.assert_array_equal(V, np.where(exact >= 0, 1.0, -1.0))


def test_thresholds_and_inputs_scale_with_the_divisor_and_keep_ties_exact(write_scenario):
    """net_i = w_i·v + I_i − T_i with Hebbian weights k/N: a threshold that cancels a field exactly is a tie."""
    from rulelab.build import prepare_data
    from rulelab.run.runner import run_one
    from rulelab.scenario import load_scenario

    # ξ = (1, −1, 1) stored; cue (1, 1, 1): net = (0, −2/3, 0) without thresholds (the test above).
    # T_2 = −2/3 (as a float) makes net_2 = 0 exactly: 3 · T_2 is −2 in floating point, a tie, so v_2 stays +1.
    raw = {"name": "t", "task": {"kind": "association", "dataset": {"name": "table", "inputs": [[1, -1, 1]],
                                                                     "labels": [0]},
                                 "association": {"cues": [[1, 1, 1]], "mode": "sync",
                                                 "threshold": [0.0, -2 / 3, 0.0]}},
           "network": {"layers": [3, 3], "activation": "sign"}, "rules": [{"rule": "hopfield_hebbian"}]}
    scenario = load_scenario(write_scenario(raw))
    record = run_one(scenario, scenario.rules[0], 0, prepare_data(scenario, 0))
    np.testing.assert_array_equal(record.artifacts["recall_step1_recalled"], [[1.0, 1.0, 1.0]])
    assert record.final("converged") == 1.0 and record.final("sweeps") == 1.0
    np.testing.assert_allclose(record.params[9:], [0.0, 2 / 3, 0.0])  # b = I − T, as saved


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


NOTES_W = [[0, -1, 1], [-1, 0, -1], [1, -1, 0]]


def by_hand(**association):
    return {"name": "by-hand", "task": {"kind": "association",
                                        "dataset": {"name": "table", "inputs": [[1, -1, 1]], "labels": [0]},
                                        "association": {"cues": [[1, 1, -1]], "mode": "sync", **association}},
            "network": {"layers": [3, 3], "activation": "sign"},
            "rules": [{"rule": "hopfield_given", "weights": NOTES_W}]}


@pytest.mark.parametrize("change,message", [
    ({"rules": [{"rule": "hopfield_given"}]},
     "rules[0].weights: missing; write the 3 × 3 matrix, one row per unit"),
    ({"rules": [{"rule": "hopfield_given", "weights": [[0, 1], [1, 0]]}]},
     "rules[0].weights: got 2 rows of 2 values; the network has 3 units, so 3 rows of 3"),
    ({"rules": [{"rule": "hopfield_given", "weights": [[0, -1, 1], [-1, 0, -1], [2, -1, 0]]}]},
     "rules[0].weights: w_13 = 1 but w_31 = 2; a Hopfield net's weights are symmetric (w_ij = w_ji)"),
    ({"rules": [{"rule": "hopfield_given", "weights": [[0, -1, 1], [-1, 1, -1], [1, -1, 0]]}]},
     "rules[0].weights: w_22 = 1; a Hopfield net has no self-connections (w_ii = 0)"),
    ({"task.association.cues": [[1, 1]]}, "task.association.cues[0]: got 2 values; the network has 3 units"),
    ({"task.association.cues": [[1, 0, -1]]}, "task.association.cues[0]: got 0; a cue state is bipolar (±1)"),
    ({"task.association.flip_fractions": [0.2]},
     "task.association.flip_fractions: explicit cues are recalled as given; drop flip_fractions"),
    ({"task.association.threshold": [0, 1]},
     "task.association.threshold: got 2 values; expected one number for every unit or one per unit (3)"),
    ({"task.association.external_input": [0, 1, 2, 3]},
     "task.association.external_input: got 4 values; expected one number for every unit or one per unit (3)"),
])
def test_bad_hopfield_by_hand_input(write_scenario, change, message):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = by_hand()
    for key, value in change.items():
        if key == "rules":
            raw["rules"] = value
        else:
            raw["task"]["association"][key.rsplit(".", 1)[1]] = value
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_scenario(raw))
    assert message in info.value.format()


def test_hopfield_given_stores_the_written_matrix_and_passes_the_contract():
    from rulelab.rules.hopfield_given import HopfieldGiven
    from rulelab.testing import check_rule

    stored = HopfieldGiven(weights=NOTES_W).store_exact(np.ones((1, 3)))
    np.testing.assert_array_equal(stored.numerator, NOTES_W)
    assert stored.divisor == 1.0
    assert "associative storage" in check_rule(HopfieldGiven)

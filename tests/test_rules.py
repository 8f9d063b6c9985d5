"""Perceptron and delta rule: hand-computed updates, the notes' gates, convergence theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rulelab.rules.delta import Delta
from rulelab.rules.perceptron import Perceptron
from rulelab.core.engine import train_epoch
from rulelab.core.network import encode_targets
from tests import naive
from tests.conftest import make_net


def run_batch(rule_cls, net, params, X, T, batch_size=None, **hp):
    """Apply a rule to (X, T) through the compiled engine (one epoch, in order)."""
    rule = rule_cls(**hp)
    state = rule.init_state(net, np.random.default_rng(0))
    X = np.ascontiguousarray(X, dtype=net.np_dtype)
    T = np.ascontiguousarray(T, dtype=net.np_dtype)
    return train_epoch(rule_cls.update, params, net.layout, net.act_args, state, rule.params.pack(), X, T,
                       batch_size or len(X))


def test_perceptron_one_update_by_hand():
    net, params = make_net([2, 1], ["step"], scheme="zeros", bias="zeros")
    params[:] = [0.5, 0.5, -0.8]  # w1, w2, b (= w0)
    # x = (1, 0), t = 1: net = -0.3 → y = 0, error 1 → w += 0.1·x, b += 0.1.
    mistakes = run_batch(Perceptron, net, params, [[1.0, 0.0]], [[1.0]], lr=0.1)
    assert mistakes == 1.0
    np.testing.assert_allclose(params, [0.6, 0.5, -0.7], rtol=1e-15)
    # A correct answer changes nothing.
    mistakes = run_batch(Perceptron, net, params, [[0.0, 0.0]], [[0.0]], lr=0.1)
    assert mistakes == 0.0
    np.testing.assert_allclose(params, [0.6, 0.5, -0.7], rtol=1e-15)


def test_lms_one_update_by_hand():
    net, params = make_net([2, 1], ["linear"], scheme="zeros", bias="zeros")
    params[:] = [0.2, -0.1, 0.05]
    # o = 0.2·1 − 0.1·2 + 0.05 = 0.05; t − o = 0.95; w += 0.1·0.95·x.
    sse = run_batch(Delta, net, params, [[1.0, 2.0]], [[1.0]], lr=0.1)
    assert sse == pytest.approx(0.5 * 0.95 ** 2, rel=1e-14)
    np.testing.assert_allclose(params, [0.295, 0.09, 0.145], rtol=1e-14)


def test_sigmoid_delta_one_update_by_hand():
    net, params = make_net([2, 1], ["sigmoid"], scheme="zeros", bias="zeros")
    params[:] = [0.2, -0.1, 0.05]
    o = 1.0 / (1.0 + math.exp(-0.05))  # in = 0.05
    delta = (1.0 - o) * o * (1.0 - o)  # Err × g'(in)
    run_batch(Delta, net, params, [[1.0, 2.0]], [[1.0]], lr=0.5)
    np.testing.assert_allclose(params, [0.2 + 0.5 * delta, -0.1 + 0.5 * 2 * delta, 0.05 + 0.5 * delta],
                               rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_perceptron_epoch_matches_naive_multiclass(dtype):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 5))
    labels = rng.integers(0, 4, size=60)
    net, params = make_net([5, 4], ["step"], dtype, seed=2)
    T = encode_targets(labels, 4, "step")
    W, b = net.weights(params, 0).astype(float).copy(), net.bias(params, 0).astype(float).copy()
    expected_mistakes = naive.perceptron_epoch(W, b, X.astype(dtype).astype(float), T, 0.25)
    mistakes = run_batch(Perceptron, net, params, X, T, batch_size=1, lr=0.25)
    assert mistakes == expected_mistakes
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(net.weights(params, 0), W, rtol=tol, atol=tol)
    assert params.dtype == np.dtype(dtype)


@pytest.mark.parametrize("act", ["sigmoid", "softmax", "tanh"])
def test_delta_minibatch_matches_naive(act):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(8, 3))
    labels = rng.integers(0, 3, size=8)
    net, params = make_net([3, 3], [act], seed=5)
    T = encode_targets(labels, 3, act)
    W, b = net.weights(params, 0).copy(), net.bias(params, 0).copy()
    naive.delta_batch(W, b, X, T, 0.3, act)
    run_batch(Delta, net, params, X, T, batch_size=8, lr=0.3)
    np.testing.assert_allclose(net.weights(params, 0), W, rtol=1e-12)
    np.testing.assert_allclose(net.bias(params, 0), b, rtol=1e-12)


def test_delta_on_hidden_layer_trains_only_the_readout():
    net, params = make_net([3, 4, 2], ["tanh", "sigmoid"], seed=6)
    before = params.copy()
    X = np.random.default_rng(1).normal(size=(5, 3))
    run_batch(Delta, net, params, X, encode_targets(np.array([0, 1, 0, 1, 1]), 2, "sigmoid"), 1, lr=0.5)
    hidden = slice(0, 3 * 4 + 4)
    np.testing.assert_array_equal(params[hidden], before[hidden])
    assert not np.allclose(params[hidden.stop:], before[hidden.stop:])


def _gate_outputs(w0: float) -> list[int]:
    net, params = make_net([2, 1], ["step"], scheme="zeros", bias="zeros")
    params[:] = [0.5, 0.5, w0]
    from rulelab.core import kernels as K

    out = []
    for x in ([0, 0], [0, 1], [1, 0], [1, 1]):
        z = np.empty(1)
        a = np.empty(1)
        out.append(int(K.forward(params, net.layout, net.act_args, np.array(x, float), z, a)[0]))
    return out


def test_notes_and_or_weights():
    assert _gate_outputs(-0.8) == [0, 0, 0, 1]  # AND
    assert _gate_outputs(-0.3) == [0, 1, 1, 1]  # OR


def test_novikoff_bound_on_separable_data(write_scenario, tmp_path):
    """Total mistakes until an error-free epoch ≤ (R/γ)² (Novikoff 1962), from zero weights."""
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    rng = np.random.default_rng(11)
    w_star = np.array([1.0, -2.0, 0.3])  # (w1, w2, b)
    X = rng.uniform(-1, 1, size=(400, 2))
    Xa = np.column_stack([X, np.ones(len(X))])
    margin = Xa @ w_star / np.linalg.norm(w_star)
    keep = np.abs(margin) > 0.05
    X, Xa, margin = X[keep], Xa[keep], margin[keep]
    labels = (margin > 0).astype(int)
    gamma = np.abs(margin).min()
    R = np.linalg.norm(Xa, axis=1).max()
    bound = (R / gamma) ** 2
    np.savetxt(tmp_path / "sep.csv", np.column_stack([X, labels]), delimiter=",")
    path = write_scenario({
        "name": "novikoff", "seed": 0,
        "task": {"dataset": {"name": "csv", "path": "sep.csv"}, "test_fraction": 0.0},
        "network": {"layers": [2, 1], "activation": "sign", "init": "zeros"},
        "train": {"epochs": 1000},  # the perceptron stops itself after an error-free epoch
        "rules": [{"rule": "perceptron", "lr": 1.0}],
    })
    (record,) = run_scenario(load_scenario(path))
    mistakes = sum(v for _, m, v in record.all_rows() if m == "mistakes")
    assert record.status == "converged"
    assert record.final("train_accuracy") == 1.0
    assert 0 < mistakes <= bound
    # The last epoch was error-free: that is how convergence is detected.
    assert [v for _, m, v in record.all_rows() if m == "mistakes"][-1] == 0.0


def test_xor_perceptron_reports_non_convergence():
    from rulelab.output.results import summarize
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario
    from tests.conftest import ROOT

    scenario = load_scenario(ROOT / "scenarios" / "xor.yaml", repeats=3, overrides=["rules=[{rule: perceptron, lr: 0.1, network: {layers: [2, 1], activation: step}}]"])
    records = run_scenario(scenario)
    perceptron = [r for r in records if r.rule == "perceptron"]
    assert [r.status for r in perceptron] == ["not_converged"] * 3
    # A single threshold unit gets at most 3 of the 4 XOR rows right.
    assert all(r.final("train_accuracy") <= 0.75 for r in perceptron)
    assert all([v for _, m, v in r.all_rows() if m == "mistakes"][-1] > 0 for r in perceptron)
    row = next(row for row in summarize(scenario, records) if row["rule"] == "perceptron")
    assert row["converged"] == "0/3"
    assert "did not converge within 3000 epochs on 3/3 seeds" in row["note"]

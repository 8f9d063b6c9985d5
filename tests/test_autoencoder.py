"""Autoencoding tasks: tied weights, corruption, reconstruction metrics."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.rules.backprop import Backprop
from rulelab.core import gradient as G
from rulelab.core import kernels as K
from rulelab.core.network import Network, init_params
from rulelab.build import corrupt
from tests.conftest import ROOT


def test_tied_layout_and_init():
    net = Network((5, 3, 2, 3, 5), ("tanh",) * 4, tied=True)
    assert net.layout[:, K.TIE].tolist() == [-1, -1, 1, 0]
    params = init_params(net, np.random.default_rng(0))
    np.testing.assert_array_equal(net.weights(params, 3), net.weights(params, 0).T)
    np.testing.assert_array_equal(net.weights(params, 2), net.weights(params, 1).T)


def test_tied_gradient_matches_finite_differences():
    """With W_dec = W_encᵀ, the folded gradient is dE/dW_enc of the shared parameterisation."""
    rng = np.random.default_rng(1)
    net = Network((4, 3, 4), ("tanh", "sigmoid"), tied=True)
    params = init_params(net, rng, "normal", sigma=0.6, bias_init="same")
    x = rng.random(4)
    rule = Backprop(lr=1.0)
    state = rule.init_state(net, rng)
    G.accumulate_gradient(params, net.layout, net.act_args, state, x, x, K.SQUARED, G.BACKPROP, 1.0)
    g0 = 1 + 3 * net.n_units
    grad = state[g0:g0 + net.n_params]
    G._fold_tied_gradients(net.layout, grad)
    z, a = np.empty(net.n_units), np.empty(net.n_units)

    def energy(p):
        out = K.forward(p, net.layout, net.act_args, x, z, a)
        return K.sample_loss(K.SQUARED, out.copy(), x, K.SIGMOID)

    h = 1e-6
    enc = net.weights(params, 0)
    for j in range(3):
        for i in range(4):
            up, down = params.copy(), params.copy()
            for p, sign in ((up, h), (down, -h)):
                net.weights(p, 0)[j, i] += sign
                net.weights(p, 1)[i, j] += sign  # the tied decoder moves with it
            numeric = (energy(up) - energy(down)) / (2 * h)
            assert net.weights(grad, 0)[j, i] == pytest.approx(numeric, rel=1e-5, abs=1e-9)
    assert not net.weights(grad, 1).any()  # the decoder gets no step of its own
    assert enc.shape == (3, 4)


def test_tied_weights_stay_tied_through_training():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "autoencoder.yaml", repeats=1,
                             overrides=["train.epochs=2", "rules[0].network={tied: true}"])
    record = run_scenario(scenario)[0]
    net = scenario.rules[0].network
    np.testing.assert_array_equal(net.weights(record.params, 1), net.weights(record.params, 0).T)
    losses = [v for _, m, v in record.all_rows() if m == "test_loss"]
    assert losses[-1] < 0.6 * losses[0]  # reconstruction improves


def test_corruption_kinds():
    rng = np.random.default_rng(0)
    X = (rng.random((200, 50)) < 0.5).astype(float)
    flipped = corrupt(X, "bitflip", 0.2, np.random.default_rng(1), 0.0, 1.0)
    assert np.mean(flipped != X) == pytest.approx(0.2, abs=0.01)
    assert set(np.unique(flipped)) == {0.0, 1.0}
    bipolar = 2 * X - 1
    assert set(np.unique(corrupt(bipolar, "bitflip", 0.3, rng, -1.0, 1.0))) == {-1.0, 1.0}
    masked = corrupt(X, "mask", 0.5, np.random.default_rng(2), 0.0, 1.0)
    assert np.all(masked <= X) and np.mean(masked != X) == pytest.approx(0.25, abs=0.02)
    noisy = corrupt(np.zeros((400, 50)), "gaussian", 0.3, np.random.default_rng(3), 0.0, 1.0)
    assert noisy.std() == pytest.approx(0.3, rel=0.02)


def test_denoising_run_reports_denoising_loss():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "autoencoder.yaml", repeats=1,
                             overrides=["train.epochs=3", "task.corruption={kind: mask, level: 0.3}",
                                        "rules=[{rule: backprop, lr: 0.1}]"])
    (record,) = run_scenario(scenario)
    noisy = [v for _, m, v in record.all_rows() if m == "test_denoising_loss"]
    clean = [v for _, m, v in record.all_rows() if m == "test_loss"]
    assert len(noisy) == 4 and noisy[-1] < noisy[0]
    assert noisy[-1] > clean[-1]  # corrupted inputs reconstruct worse than clean ones


def test_other_rules_train_autoencoders_and_tied_needs_a_gradient_rule(write_scenario):
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "ae", "task": {"kind": "autoencoding", "dataset": "digits", "test_fraction": 0.25},
           "network": {"layers": [64, 16, 64], "activation": "sigmoid"}, "train": {"epochs": 2},
           "rules": [{"rule": "delta", "lr": 0.5}]}
    (record,) = run_scenario(load_scenario(write_scenario(raw)))
    losses = [v for _, m, v in record.all_rows() if m == "test_loss"]
    assert losses[-1] < losses[0]  # the delta rule trains the decoder on random features
    raw["network"]["tied"] = True
    with pytest.raises(ScenarioError, match="rule 'delta' does not keep tied weights in sync"):
        load_scenario(write_scenario(raw))
    raw["network"]["layers"] = [64, 16, 8, 64]
    with pytest.raises(ScenarioError, match=r"network.tied: tied weights need a mirror-image net"):
        load_scenario(write_scenario(raw))

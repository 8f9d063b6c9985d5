"""The recurrent layer kind in the layer table: an Elman layer over a signal, stackable with conv1d, dense and
last_step, trained by backpropagation through time in the one layer model (checked against finite differences
and against the sequence task's own recurrent model), by evolution strategies, or read out by a rule that
trains only the output layer."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.core import gradient as G
from rulelab.core import kernels as K
from rulelab.core.losses import LOSS_CODES
from rulelab.core.network import LayerSpec, Network, init_params
from rulelab.run.runner import run_scenario
from rulelab.scenario import ScenarioError, validate_scenario
from rulelab.tasks import recurrent as R
from tests.test_backprop import finite_difference

CE, SQUARED = LOSS_CODES["cross_entropy"], LOSS_CODES["squared"]


def _net(specs, activations, shape=(2, 5)) -> Network:
    return Network.from_layers(shape, specs, activations)


def _buffers(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    units = int(K.n_units(net.layout))
    return np.empty(units), np.empty(units), np.zeros(1 + 3 * units + 3 * net.n_params)


def _gradient(net: Network, params, x, t, loss_code) -> np.ndarray:
    _, _, state = _buffers(net)
    grad = np.zeros(net.n_params)
    G.accumulate_into(params, net.layout, net.act_args, state, x, t, loss_code, G.BACKPROP, grad, 1.0)
    return grad


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_backpropagation_through_time_matches_finite_differences(activation):
    """conv1d → recurrent → last_step → dense: every parameter's gradient, the recurrent W through every step."""
    net = _net([LayerSpec("conv1d", 3, (1, 2)), LayerSpec("recurrent", 4), LayerSpec("last_step"),
                LayerSpec("dense", 2)], ["tanh", activation, "linear", "sigmoid"], shape=(2, 6))
    rng = np.random.default_rng(1)
    params = init_params(net, rng, "uniform", 0.7, bias_init="same")
    x, t = rng.normal(size=12), np.array([1.0, 0.0])
    analytic, numeric = _gradient(net, params, x, t, SQUARED), finite_difference(net, params, x, t, "squared")
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_a_minibatch_averages_the_per_sample_gradients():
    net = _net([LayerSpec("recurrent", 3), LayerSpec("last_step"), LayerSpec("dense", 3)],
               ["tanh", "linear", "softmax"])
    rng = np.random.default_rng(2)
    params = init_params(net, rng, "uniform", 0.8, bias_init="same")
    X, T = rng.normal(size=(5, 10)), np.eye(3)[rng.integers(0, 3, 5)]
    _, _, state = _buffers(net)
    G.batch_gradient(params, net.layout, net.act_args, state, X, T, CE, G.BACKPROP)
    units = int(K.n_units(net.layout))
    batch = state[1 + 3 * units:1 + 3 * units + net.n_params]
    per_sample = np.mean([_gradient(net, params, X[r], T[r], CE) for r in range(5)], axis=0)
    np.testing.assert_allclose(batch, per_sample, rtol=1e-12, atol=1e-15)


def test_the_layer_is_the_sequence_tasks_elman_net():
    """Same W, U, b and readout: the same states and the same BPTT gradient as rulelab.tasks.recurrent's model
    (α = 0, classified at the last step), up to the order of the sums."""
    F, H, C, T = 2, 4, 3, 6
    net = _net([LayerSpec("recurrent", H), LayerSpec("last_step"), LayerSpec("dense", C)],
               ["tanh", "linear", "softmax"], shape=(F, T))
    rng = np.random.default_rng(3)
    W, U, b = rng.uniform(-0.6, 0.6, (H, H)), rng.uniform(-0.6, 0.6, (H, F)), rng.uniform(-0.3, 0.3, H)
    V, c = rng.uniform(-0.6, 0.6, (C, H)), rng.uniform(-0.3, 0.3, C)
    ours = np.concatenate([np.hstack([W, U]).ravel(), b, V.ravel(), c])
    theirs = np.concatenate([W.ravel(), U.ravel(), b, V.ravel(), c])
    steps = rng.normal(size=(T, F))  # x_t
    x_ours = steps.T.ravel()  # channel-major: feature f's T values in a row
    label = 1
    z, a, _ = _buffers(net)
    K.forward(ours, net.layout, net.act_args, x_ours, z, a)
    dims = np.array([F, H, C, T, R.TANH, R.SOFTMAX_CE], dtype=np.int64)
    netf, m = np.zeros(1), np.zeros(T)
    m[-1] = 1.0
    y = np.zeros(T * C)
    y[(T - 1) * C + label] = 1.0
    h, s, o = np.zeros((T, H)), np.zeros((T + 1, H)), np.zeros((T, C))
    R.forward(theirs, dims, netf, steps.ravel(), m, h, s, o)
    np.testing.assert_allclose(a[:H * T].reshape(H, T).T, s[1:], rtol=1e-13)
    grad_theirs = np.zeros_like(theirs)
    R.bptt_gradient(theirs, dims, netf, steps.ravel(), y, m, h, s, o, V.ravel().copy(), 0, grad_theirs, np.zeros(0))
    grad_ours = _gradient(net, ours, x_ours, np.eye(C)[label], CE)
    gW, gU = grad_theirs[:H * H].reshape(H, H), grad_theirs[H * H:H * H + H * F].reshape(H, F)
    expected = np.concatenate([np.hstack([gW, gU]).ravel(), grad_theirs[H * H + H * F:]])
    np.testing.assert_allclose(grad_ours, expected, rtol=1e-11, atol=1e-14)


def _scenario(rules, layers=None, **train) -> dict:
    return {"name": "x", "seed": 0, "repeats": 1,
            "task": {"kind": "classification", "dataset": "digits", "test_fraction": 0.25},
            "network": {"layers": layers or [[8, 8], {"kind": "recurrent", "units": 16}, {"kind": "last_step"}, 10],
                        "activation": "tanh", "output_activation": "softmax"},
            "train": {"epochs": 3, **train}, "rules": rules}


def test_digits_read_column_by_column_are_learned_by_bptt_es_and_a_trained_readout():
    records = run_scenario(validate_scenario(_scenario([
        {"rule": "backprop", "lr": 0.02}, {"rule": "openai_es", "population": 20},
        {"rule": "perceptron", "network": {"layers": [[8, 8], {"kind": "recurrent", "units": 16},
                                                      {"kind": "last_step"}, 10], "output_activation": "step"}}])))
    by_label = {r.label: r for r in records}
    assert [r.status for r in records] == ["completed", "completed", "not_converged"]
    # Ten classes: chance is 0.1. Backprop through time learns in 3 epochs; the perceptron trains only the
    # readout of the fixed random recurrent states (an echo-state net).
    assert by_label["backprop"].final("test_accuracy") > 0.5
    assert by_label["perceptron"].final("test_accuracy") > 0.3
    assert by_label["openai_es"].final("test_accuracy") > 0.1


def test_a_recurrent_layer_is_refused_where_it_cannot_work():
    def problems(**changes) -> str:
        with pytest.raises(ScenarioError) as bad:
            validate_scenario(_scenario(**changes))
        return str(bad.value)

    assert "network.layers[1]: recurrent needs a signal of shape (features, steps); it gets (1, 8, 8); read an " \
           "image a column per step: network.layers[0] = [channels × rows, columns]" in problems(
               rules=[{"rule": "backprop"}], layers=[64, {"kind": "recurrent", "units": 4}, {"kind": "last_step"}, 10])
    assert "a recurrent layer gives every step's state; read it out with layers after it (last_step, then dense)" \
        in problems(rules=[{"rule": "backprop"}], layers=[[8, 8], {"kind": "recurrent", "units": 4}])
    assert "rule 'feedback_alignment' cannot train layer 0 (recurrent 16)" in problems(
        rules=[{"rule": "feedback_alignment"}])

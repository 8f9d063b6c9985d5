"""Every worked example of the lecture notes (../shared/seeds/), with the right values where the notes slip.

docs/notes-errata.md lists the slips with their computation; each test here names the note it
checks. Elsewhere: the backprop example to 9 digits in test_backprop.py, f = (x + y)z in
test_graph.py, the AND/OR weights in test_rules.py, the Hopfield tie rule in test_hopfield.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rulelab.core import kernels as K
from rulelab.graph import backprop, parse_expression
from tests.conftest import ROOT


def sigmoid(y: float) -> float:
    return 1.0 / (1.0 + math.exp(-y))


def run(write_scenario, raw: dict, overrides: tuple[str, ...] = ()):
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    return run_scenario(load_scenario(write_scenario(raw), overrides=list(overrides)))


# --- notes 001: the artificial neuron -----------------------------------------------------------------

@pytest.mark.parametrize("x1,x2,expected", [(0, 0, 1.0), (1, 1, 2.0), (0, 1, 0.0), (2, 0.5, 6.0), (-1, 0, 0.0),
                                            (1, 2, 0.0)])
def test_relu_neuron_w_3_minus_2_b_1(x1, x2, expected):
    """f(x) = max(3x₁ − 2x₂ + 1, 0): the neuron's forward pass, and its gradient on the graph."""
    from rulelab.core.network import Network

    net = Network((2, 1), ("relu",))
    params = np.array([3.0, -2.0, 1.0])
    z, a = np.empty(1), np.empty(1)
    assert K.forward(params, net.layout, net.act_args, np.array([x1, x2], float), z, a)[0] == expected
    assert z[0] == 3 * x1 - 2 * x2 + 1
    result = backprop(parse_expression("relu(3*x1 - 2*x2 + 1)"), {"x1": x1, "x2": x2})
    assert result.value == expected
    # Where the unit is on, ∂f/∂x = w = (3, −2); where it is off (z < 0, or z = 0 by convention), 0.
    assert result.gradients() == ({"x1": 3.0, "x2": -2.0} if expected > 0 else {"x1": 0.0, "x2": 0.0})


# --- notes 002: activations and the chain rule --------------------------------------------------------

@pytest.mark.parametrize("y", [-2.0, -0.5, 0.3, 1.0, 3.0])
def test_tanh_is_2_sigmoid_of_2y_minus_1(y):
    """Notes 002 write tanh(y) = 2g(y) − 1 with g = σ; the identity is tanh(y) = 2σ(2y) − 1."""
    tanh = K.activate_scalar(K.TANH, 0.0, y)
    assert tanh == pytest.approx(2 * sigmoid(2 * y) - 1, rel=1e-14, abs=1e-15)
    assert abs(tanh - (2 * sigmoid(y) - 1)) > 0.05  # the notes' version is off everywhere but at 0


def test_tanh_identity_at_one():
    assert math.tanh(1.0) == pytest.approx(0.761594156, abs=1e-9)
    assert 2 * sigmoid(2.0) - 1 == pytest.approx(0.761594156, abs=1e-9)
    assert 2 * sigmoid(1.0) - 1 == pytest.approx(0.462117157, abs=1e-9)  # = tanh(1/2), not tanh(1)


@pytest.mark.parametrize("y", [-3.0, -0.4])
def test_leaky_relu_derivative_is_plus_a(y):
    """g(y) = a·y for y < 0 (a = 0.02 in the notes), so g′(y) = +a; the notes print −a."""
    a = 0.02
    value = K.activate_scalar(K.LEAKY_RELU, a, y)
    assert value == pytest.approx(a * y, rel=1e-15)
    assert K.derivative_scalar(K.LEAKY_RELU, a, y, value) == a
    h = 1e-6
    numeric = (K.activate_scalar(K.LEAKY_RELU, a, y + h) - K.activate_scalar(K.LEAKY_RELU, a, y - h)) / (2 * h)
    assert numeric == pytest.approx(+a, rel=1e-6)


def test_squared_loss_gradient_has_a_minus_sign(write_scenario):
    """L = ½(y − σ(wx + b))²: ∂L/∂w = −(y − σ(wx + b)) σ′(wx + b) x (the notes drop the minus).

    At y = 1, w = 0.5, x = 2, b = −1: σ(0) = ½, σ′(0) = ¼, so ∂L/∂w = −½·¼·2 = −0.25 and
    ∂L/∂b = −0.125. One backprop step with η = 1 moves w to 0.5 + 0.25 = 0.75 (towards the
    target), where the notes' sign would move it to 0.25.
    """
    result = backprop(parse_expression("0.5*(y - sigmoid(w*x + b))^2"), {"y": 1, "w": 0.5, "x": 2, "b": -1})
    assert result.gradient("w") == -0.25 and result.gradient("b") == -0.125
    raw = {"name": "chain", "task": {"kind": "regression", "loss": "squared",
                                     "dataset": {"name": "table", "inputs": [[2.0]], "targets": [[1.0]]}},
           "network": {"layers": [1, 1], "activation": "sigmoid",
                       "init": {"scheme": "given", "layers": [{"weights": [[0.5]], "bias": [-1.0]}]}},
           "train": {"epochs": 1, "shuffle": False},
           "rules": [{"rule": "backprop", "lr": 1.0, "update_biases": False}]}
    (record,) = run(write_scenario, raw)
    assert record.params[0] == pytest.approx(0.75, rel=1e-15)


# --- notes 003: losses and the computational graph --------------------------------------------------------

SCORES = np.array([3.2, 5.1, -1.7])  # class 0 is the true class


def test_multiclass_svm_loss():
    """L_i = Σ_{j≠y} max(0, s_j − s_y + 1) = max(0, 2.9) + max(0, −3.9) = 2.9.  The notes' "derive on
    paper" slide writes W_j·x + W_y·x + 1 (a plus): that would give 9.3 + 2.5 = 11.8."""
    t = np.array([1.0, 0.0, 0.0])
    assert K.sample_loss(K.HINGE, SCORES, t, K.LINEAR) == pytest.approx(2.9, rel=1e-15)
    wrong_sign = sum(max(0.0, s + SCORES[0] + 1) for s in SCORES[1:])
    assert wrong_sign == pytest.approx(11.8)


def test_softmax_loss():
    """L_i = −log(e^{s_y} / Σ_j e^{s_j}) = −log(24.533 / 188.737) = 2.0404 for the scores above."""
    p = np.empty(3)
    K.softmax_into(SCORES, p)
    expected = -math.log(math.exp(3.2) / (math.exp(3.2) + math.exp(5.1) + math.exp(-1.7)))
    assert K.sample_loss(K.CROSS_ENTROPY, p, np.array([1.0, 0.0, 0.0]), K.SOFTMAX) == pytest.approx(expected,
                                                                                                   rel=1e-14)
    assert expected == pytest.approx(2.040355, abs=1e-6)


def test_computational_graph_example():
    """f = (x + y)z at (−2, 5, −4): q = 3, f = −12, ∂f/∂x = ∂f/∂y = z = −4, ∂f/∂z = q = 3."""
    result = backprop(parse_expression("(x + y) * z"), {"x": -2, "y": 5, "z": -4})
    assert result.values[result.graph.nodes[2].index] == 3 and result.value == -12
    assert result.gradients() == {"x": -4.0, "y": -4.0, "z": 3.0}


# --- notes 004: the ±1 perceptron, the backprop example, Hopfield ------------------------------------------

def gate_accuracy(write_scenario, gate: str, w0: float) -> float:
    raw = {"name": "gate", "task": {"dataset": {"name": gate}},
           "network": {"layers": [2, 1], "activation": "sign",
                       "init": {"scheme": "given", "layers": [{"weights": [[0.5, 0.5]], "bias": [w0]}]}},
           "train": {"epochs": 0}, "rules": [{"rule": "perceptron"}]}
    (record,) = run(write_scenario, raw)
    return record.final("train_accuracy")


def test_and_or_weights_of_the_pm1_perceptron(write_scenario):
    """o = 1 if w0 + 0.5x₁ + 0.5x₂ > 0 else −1.  AND: w0 = −0.8.  OR needs w0 = −0.3: with the notes'
    w0 = +0.3, o(0, 0) = sgn(0.3) = 1, so (0, 0) is classed as true (3 of 4 rows right)."""
    assert gate_accuracy(write_scenario, "and", -0.8) == 1.0
    assert gate_accuracy(write_scenario, "or", -0.3) == 1.0
    assert gate_accuracy(write_scenario, "or", 0.3) == 0.75


def test_backprop_example_steps():
    """Notes 004's forward pass and chain for w5.  The input of n1 is 0.15·0.05 + 0.2·0.1 + 0.35 = 0.3775
    (the notes print 0.3475, but their σ = 0.593 is σ(0.3775); σ(0.3475) = 0.586).  ∂E/∂out_o1 = 0.741,
    ∂out_o1/∂in_o1 = 0.18682 (the notes truncate to 0.186, and use 0.18 inside the product, where
    0.741·0.18·0.593 = 0.079), ∂in_o1/∂w5 = 0.593; the product is 0.082."""
    from rulelab.core.network import Network

    net = Network((2, 2, 2), ("sigmoid", "sigmoid"))
    params = np.array([0.15, 0.20, 0.25, 0.30, 0.35, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.60])
    z, a = np.empty(4), np.empty(4)
    out = K.forward(params, net.layout, net.act_args, np.array([0.05, 0.10]), z, a)
    assert z[0] == pytest.approx(0.3775, abs=1e-15)
    assert a[0] == pytest.approx(sigmoid(0.3775), rel=1e-15) and round(sigmoid(0.3475), 3) == 0.586
    assert z[2] == pytest.approx(0.4 * a[0] + 0.45 * a[1] + 0.6, rel=1e-15) and round(z[2], 3) == 1.106
    d_out = -(0.01 - out[0])
    d_in = out[0] * (1 - out[0])
    assert (round(d_out, 3), round(d_in, 3), round(a[0], 3)) == (0.741, 0.187, 0.593)
    assert d_out * d_in * a[0] == pytest.approx(0.0821670406, abs=1e-10)


def test_backprop_example_needs_the_second_target_0_99(write_scenario):
    """E = ½((0.01 − 0.751)² + (t₂ − 0.773)²) is 0.298 for t₂ = 0.99; the notes' t₂ = 0.1 gives 0.501."""
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    worked = ROOT / "scenarios" / "backprop-worked-example.yaml"
    losses = {}
    for t2 in (0.99, 0.1):
        scenario = load_scenario(worked, overrides=[f"task.dataset.targets=[[0.01, {t2}]]", "train.epochs=0"])
        (record,) = run_scenario(scenario)
        losses[t2] = record.final("train_loss")
    assert losses[0.99] == pytest.approx(0.298371109, abs=1e-9)
    assert losses[0.1] == pytest.approx(0.501227, abs=1e-6)


def test_hopfield_three_neuron_example_is_a_two_cycle():
    """W = [[0, −1, 1], [−1, 0, −1], [1, −1, 0]] and v = (1, 1, −1), reconstructed from the notes'
    arithmetic: net = (−2, 0, 0) → V1 = (−1, 1, 1) (ties to +1), then net = (0, 0, −2) → (1, 1, −1)."""
    from rulelab.build import prepare_data
    from rulelab.run.runner import run_one
    from rulelab.scenario import load_scenarios

    W = np.array([[0, -1, 1], [-1, 0, -1], [1, -1, 0]])
    v = np.array([1, 1, -1])
    np.testing.assert_array_equal(W @ v, [-2, 0, 0])
    np.testing.assert_array_equal(W @ np.array([-1, 1, 1]), [0, 0, -2])
    xi = np.array([1, -1, 1])
    np.testing.assert_array_equal(np.outer(xi, xi) - np.eye(3, dtype=int), W)  # 3 × the Hebbian matrix of ξ
    tasks = dict(load_scenarios(ROOT / "scenarios" / "hopfield-notes.yaml"))
    outcome = {}
    for name, scenario in tasks.items():
        record = run_one(scenario, scenario.rules[0], 0, prepare_data(scenario, 0))
        outcome[name] = record
    sync = outcome["synchronous"]
    assert sync.final("final_two_cycle") == 1.0 and sync.final("converged") == 0.0
    np.testing.assert_array_equal(sync.artifacts["recall_step1_states"][0], [[1, 1, -1], [-1, 1, 1], [1, 1, -1]])
    assert "cue (1, 1, −1): (−1, 1, 1) ↔ (1, 1, −1)" in sync.message
    # E = −½ vᵀWv = 1 in both states of the cycle.
    assert sync.final("energy_final") == 1.0
    # T_3 = 0.5: net_3 = 0 − 0.5 < 0, so unit 3 stays at −1 and v = −ξ = (−1, 1, −1) is a fixed point.
    threshold = outcome["threshold"]
    np.testing.assert_array_equal(threshold.artifacts["recall_step1_recalled"], [[-1, 1, -1]])
    assert threshold.final("final_negation") == 1.0 and threshold.final("sweeps") == 2.0
    # One unit at a time the net settles in ξ or −ξ (energy −3, the minimum), never cycles.
    asynchronous = outcome["asynchronous"]
    assert asynchronous.final("converged") == 1.0
    assert asynchronous.final("final_target") + asynchronous.final("final_negation") == 1.0
    assert asynchronous.final("energy_final") == -3.0

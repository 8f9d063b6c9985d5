"""The straight-line kernels of tiny dense nets (rulelab.core.straight) give the generic step's numbers bit for bit.

Each case trains the same net from the same weights on the same shuffled rows with both kernels — the one the
engine gets (``rule.kernel``) and the generic all-dense step it replaces (``rule.sgd_online``) — and compares
every parameter and every sample's loss exactly.  The shapes reach row_dot's eight lanes (9 inputs, 9 hidden
units), the activations sigmoid, tanh, ReLU, leaky ReLU, linear and softmax (at the output), the losses squared and
cross-entropy, the rules backprop and feedback alignment.
"""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.core import gradient as G
from rulelab.core.engine import train_epoch
from rulelab.core.network import Network, init_params
from rulelab.core.straight import MAX_PARAMETERS, eligible, kernel_source, straight_kernel
from rulelab.rules.backprop import Backprop
from rulelab.rules.feedback_alignment import FeedbackAlignment

CASES = [
    # (rule, sizes, activations, loss)
    (Backprop, (2, 2, 1), ("sigmoid", "sigmoid"), "squared"),
    (Backprop, (3, 4, 2), ("tanh", "linear"), "squared"),
    (Backprop, (9, 3, 1), ("relu", "sigmoid"), "cross_entropy"),
    (Backprop, (2, 9, 3), ("leaky_relu", "softmax"), "cross_entropy"),
    (Backprop, (4, 3, 3), ("sigmoid", "softmax"), "squared"),
    (Backprop, (2, 3, 9, 2), ("tanh", "relu", "tanh"), "squared"),
    (Backprop, (2, 1), ("sigmoid",), "squared"),
    (FeedbackAlignment, (2, 4, 1), ("tanh", "sigmoid"), "squared"),
    (FeedbackAlignment, (9, 2, 2, 3), ("sigmoid", "relu", "softmax"), "cross_entropy"),
]


def _train(kernel, net, params, state, hp, X, Y, epochs, rng):
    """Online epochs over (X, Y) in a seeded order; the losses of every sample in order."""
    losses = []
    for _ in range(epochs):
        order = rng.permutation(X.shape[0])
        Xo, Yo = np.ascontiguousarray(X[order]), np.ascontiguousarray(Y[order])
        for row in range(X.shape[0]):
            losses.append(train_epoch(kernel, params, net.layout, net.act_args, state, hp, Xo[row:row + 1],
                                      Yo[row:row + 1], 1))
    return np.array(losses)


@pytest.mark.parametrize("rule_class, sizes, activations, loss", CASES,
                         ids=[f"{c[0].__name__}-{'-'.join(map(str, c[1]))}-{'-'.join(c[2])}-{c[3]}" for c in CASES])
def test_straight_kernel_gives_the_generic_steps_numbers(rule_class, sizes, activations, loss):
    net = Network(sizes, activations, leaky_slope=0.1)
    rule = rule_class(rule_class.Params(lr=0.3, loss=loss, lr_decay=0.01))
    kernel = rule.kernel(net, 1)
    assert kernel is not rule.sgd_online  # the engine is handed the written-out step
    rng = np.random.default_rng(7)
    X = rng.normal(size=(12, sizes[0]))
    Y = np.zeros((12, sizes[-1]))
    Y[np.arange(12), rng.integers(0, sizes[-1], 12)] = 1.0
    hp = rule.params.pack()
    start = init_params(net, np.random.default_rng(1), "normal", sigma=0.8, bias_init="same")
    results = []
    for k in (kernel, rule.sgd_online):
        params = start.copy()
        state = rule.init_state(net, np.random.default_rng(2))
        losses = _train(k, net, params, state, hp, X, Y, 5, np.random.default_rng(3))
        results.append((params, losses, state[0]))
    (p_straight, l_straight, t_straight), (p_generic, l_generic, t_generic) = results
    assert np.all(np.isfinite(l_generic)) and np.ptp(p_generic - start) > 0  # it did train
    np.testing.assert_array_equal(p_straight, p_generic)
    np.testing.assert_array_equal(l_straight, l_generic)
    assert t_straight == t_generic == 60.0  # the update counter (η_t's t) advanced once a sample


def test_nets_without_a_straight_form_keep_the_generic_kernel():
    small = Network((2, 2, 1), ("sigmoid", "sigmoid"))
    rule = Backprop(Backprop.Params(lr=0.5, loss="squared"))
    assert rule.kernel(small, 1) is not rule.sgd_online
    assert rule.kernel(small, 4) is rule.update  # minibatches
    assert Backprop(Backprop.Params(lr=0.5, loss="squared", momentum=0.5)).kernel(small, 1) is rule.update
    assert Backprop(Backprop.Params(lr=0.5, loss="hinge")).kernel(small, 1) is rule.sgd_online
    assert Backprop(Backprop.Params(lr=0.5)).kernel(small, 1) is rule.sgd_online  # loss 'task' not resolved
    big = Network((20, 8, 1), ("tanh", "sigmoid"))  # 177 parameters
    assert big.n_params > MAX_PARAMETERS and rule.kernel(big, 1) is rule.sgd_online
    f32 = Network((2, 2, 1), ("sigmoid", "sigmoid"), dtype="float32")
    assert rule.kernel(f32, 1) is rule.sgd_online
    hidden_softmax = Network((2, 3, 1), ("softmax", "sigmoid"))
    assert not eligible(hidden_softmax.layout, 0, G.BACKPROP, "float64")
    assert not eligible(small.layout, 0, G.DIRECT, "float64")  # direct feedback alignment: not written out


def test_kernel_source_is_one_statement_per_operation():
    net = Network((2, 2, 1), ("sigmoid", "sigmoid"))
    source = kernel_source(net.layout, 0, G.BACKPROP)
    # Hidden unit 0: z = b_0 + row_dot(W_0, x), with W_0 at params[0:2] and b at params[4:6].
    assert "s += params[0] * x[0]" in source and "z0_0 = params[4] + s" in source
    # The output's error sent down through W_2 (params[6:8]) before W_2 changes, then W_2's step.
    assert source.index("e += d1_0 * params[6]") < source.index("params[6] += g * a0_0")
    assert straight_kernel(net.layout, 0, G.BACKPROP, "float64") is straight_kernel(net.layout, 0, G.BACKPROP,
                                                                                   "float64")


def test_an_unwritable_cache_falls_back_to_the_generic_kernel(monkeypatch, tmp_path):
    from rulelab.core import jit, straight

    monkeypatch.setattr(straight, "_kernels", {})  # nothing loaded in this process yet
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(jit, "CACHE_DIR", str(blocker))  # mkdir under a file fails
    net = Network((3, 5, 2), ("tanh", "sigmoid"))
    rule = Backprop(Backprop.Params(lr=0.1, loss="squared"))
    assert rule.kernel(net, 1) is rule.sgd_online


"""Hebbian rules on conv layers: the kernels shared over positions learn from one patch at a time."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.core import kernels as K
from rulelab.core.engine import train_epoch
from rulelab.core.network import LayerSpec, Network, init_params
from rulelab.rules.competitive import Competitive
from rulelab.rules.hebb import Hebb
from rulelab.rules.oja import Oja
from rulelab.rules.sanger import Sanger
from rulelab.rules.softhebb import SoftHebb


def conv_net(act="linear", padding="same"):
    specs = [LayerSpec("conv2d", 3, (2, 2), (1, 1), padding), LayerSpec("pool2d", 0, (2, 2), None),
             LayerSpec("dense", 2)]
    return Network.from_layers((1, 4, 4), specs, (act, "linear", "softmax"))


def patches(image: np.ndarray, net: Network) -> list[np.ndarray]:
    """Every 2×2 patch (zero-padded, scan order) of a 4×4 image, as the conv layer sees them."""
    row = net.layout[0]
    pad = np.zeros((6, 6))
    pad[int(row[K.PH]):int(row[K.PH]) + 4, int(row[K.PW]):int(row[K.PW]) + 4] = image
    h_out, w_out = int(row[K.H_OUT]), int(row[K.W_OUT])
    return [pad[r:r + 2, q:q + 2].ravel().copy() for r in range(h_out) for q in range(w_out)]


def run(rule_cls, net, params, X, **hp):
    rule = rule_cls(**hp)
    state = rule.init_state(net, np.random.default_rng(0))
    X = np.ascontiguousarray(X, dtype=float)
    return train_epoch(rule_cls.update, params, net.layout, net.act_args, state, rule.params.pack(), X,
                       np.zeros((len(X), 0)), 1)


def oja_by_hand(W, xs, lr):
    eta = lr
    for x in xs:
        y = W @ x
        W = W + eta * (y[:, None] * (x[None, :] - y[:, None] * W))
    return W


def sanger_by_hand(W, xs, lr):
    eta = lr
    for x in xs:
        y = W @ x
        new = W.copy()
        residual = x.copy()
        for j in range(len(W)):
            residual = residual - y[j] * W[j]
            new[j] = W[j] + eta * y[j] * residual
        W = new
    return W


def hebb_by_hand(W, xs, eta, decay):
    for x in xs:
        y = W @ x
        W = W + eta * (y[:, None] * x[None, :] - decay * W)
    return W


def competitive_by_hand(W, xs, eta, leak):
    for x in xs:
        winner = np.argmin(((x - W) ** 2).sum(axis=1))
        rates = np.full(len(W), eta * leak)
        rates[winner] = eta
        W = W + rates[:, None] * (x - W)
    return W


def softhebb_by_hand(W, xs, eta, tau):
    for x in xs:
        u = W @ x
        y = np.exp(u / tau - (u / tau).max())
        y /= y.sum()
        W = W + eta * y[:, None] * (x[None, :] - u[:, None] * W)
    return W


@pytest.mark.parametrize("rule,by_hand,hp", [
    (Oja, oja_by_hand, {"lr": 0.05}),
    (Sanger, sanger_by_hand, {"lr": 0.05}),
    (Hebb, lambda W, xs, lr, decay: hebb_by_hand(W, xs, lr, decay), {"lr": 0.05, "decay": 0.1}),
    (Competitive, lambda W, xs, lr, leak: competitive_by_hand(W, xs, lr, leak), {"lr": 0.3, "leak": 0.1}),
    (SoftHebb, lambda W, xs, lr, temperature: softhebb_by_hand(W, xs, lr, temperature),
     {"lr": 0.05, "temperature": 0.5}),
])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_patch_by_patch_updates_match_numpy(rule, by_hand, hp, padding):
    net = conv_net(padding=padding)
    rng = np.random.default_rng(1)
    params = init_params(net, rng, "normal", sigma=0.4)
    images = rng.normal(size=(2, 4, 4))
    W = net.weights(params, 0).copy()  # 3 kernels × 4 patch values
    xs = [p for image in images for p in patches(image, net)]
    expected = by_hand(W, xs, **hp)
    before = params.copy()
    run(rule, net, params, images.reshape(2, 16), **hp)
    np.testing.assert_allclose(net.weights(params, 0), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(params[net.layout[0, 1]:], before[net.layout[0, 1]:])  # biases, other layers


def test_softhebb_on_a_dense_layer_by_hand():
    net = Network((2, 2), ("linear",))
    params = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    x = np.array([2.0, 1.0])
    run(SoftHebb, net, params, [x], lr=0.1, temperature=1.0)
    # u = (2, 1), y = softmax(u) = (e/(e+1), 1/(e+1));  Δw_k = η y_k (x − u_k w_k)
    y = np.exp([2.0, 1.0]) / np.exp([2.0, 1.0]).sum()
    np.testing.assert_allclose(params[:2], [1 + 0.1 * y[0] * (2 - 2), 0 + 0.1 * y[0] * (1 - 0)])
    np.testing.assert_allclose(params[2:4], [0 + 0.1 * y[1] * (2 - 0), 1 + 0.1 * y[1] * (1 - 1)])


def test_conv_oja_finds_the_leading_component_of_the_patches():
    """One linear kernel under Oja's rule converges to the first principal direction of the patches."""
    specs = [LayerSpec("conv1d", 1, (1, 3), (1, 1), "valid"), LayerSpec("dense", 2)]
    net = Network.from_layers((1, 12), specs, ("linear", "softmax"))
    rng = np.random.default_rng(2)
    # Signals whose neighbouring samples are correlated: a smooth random walk.
    X = np.cumsum(rng.normal(size=(300, 12)), axis=1) * 0.2
    X -= X.mean()
    params = init_params(net, rng, "normal", sigma=0.3)
    for _ in range(5):
        run(Oja, net, params, X, lr=0.002)
    P = np.array([x[i:i + 3] for x in X for i in range(10)])
    _, vectors = np.linalg.eigh(P.T @ P)
    w = net.weights(params, 0)[0]
    assert abs(np.linalg.norm(w) - 1.0) < 0.02
    assert abs(w @ vectors[:, -1]) / np.linalg.norm(w) > 0.999


def test_hebbian_rules_refuse_layers_they_cannot_train():
    net = Network.from_layers((1, 6, 6), [LayerSpec("local2d", 2, (3, 3), (1, 1), "valid"), LayerSpec("dense", 2)],
                              ("tanh", "softmax"))
    problem = Oja().network_problem(net)
    assert problem == ("rule 'oja' cannot train layer 0 (local2d 2 × 3×3, stride 1×1, valid): it trains dense, "
                       "conv1d, conv2d layers only")
    assert Oja(layer=1).network_problem(net) is None  # a dense layer on locally connected features

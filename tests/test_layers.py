"""Every layer kind against slow NumPy loops, every backward pass against finite differences (float64).

Kinds: conv1d, conv2d, locally connected 1-D and 2-D, max/average/L2 pooling (1-D and 2-D),
flatten, dropout — alone (with a dense softmax head) and stacked; for every padding and
stride, one sample and minibatches; equivariance of convolution and invariance of pooling.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rulelab.core import gradient as G
from rulelab.core import kernels as K
from rulelab.core.layers import forward_rows, forward_rows_seeded
from rulelab.core.network import LayerShapeError, LayerSpec, Network, init_params, output_shape
from rulelab.core.pooling import NO_DROPOUT, dropout_seed
from rulelab.rules.backprop import Backprop
from rulelab.rules.direct_feedback_alignment import DirectFeedbackAlignment
from rulelab.rules.feedback_alignment import FeedbackAlignment
from tests import naive

L = LayerSpec


def conv2d(units, kernel=3, stride=1, padding="valid", activation=None):
    pair = (lambda v: (v, v) if isinstance(v, int) else tuple(v))
    pad = padding if isinstance(padding, str) else pair(padding)
    return L("conv2d", units, pair(kernel), pair(stride), pad, activation=activation)


def conv1d(units, kernel=3, stride=1, padding="valid", activation=None):
    pad = padding if isinstance(padding, str) else (0, padding)
    return L("conv1d", units, (1, kernel), (1, stride), pad, activation=activation)


def pool2d(size=2, op="max", stride=None, padding="valid"):
    pad = padding if isinstance(padding, str) else (padding, padding)
    return L("pool2d", 0, (size, size), None if stride is None else (stride, stride), pad, op)


def pool1d(size=2, op="max", stride=None, padding="valid"):
    pad = padding if isinstance(padding, str) else (0, padding)
    return L("pool1d", 0, (1, size), None if stride is None else (1, stride), pad, op)


def local2d(units, kernel=3, stride=1, padding="valid"):
    pad = padding if isinstance(padding, str) else (padding, padding)
    return L("local2d", units, (kernel, kernel), (stride, stride), pad)


def local1d(units, kernel=3, stride=1, padding="valid"):
    return L("local1d", units, (1, kernel), (1, stride), padding if isinstance(padding, str) else (0, padding))


def make(shape, specs, acts, seed=0, dtype="float64", sigma=0.5):
    net = Network.from_layers(shape, specs, acts, leaky_slope=0.1, dtype=dtype)
    params = init_params(net, np.random.default_rng(seed), "normal", sigma=sigma, bias_init="same")
    return net, params.astype(dtype)


def naive_forward(net, params, x):
    """Every layer's output by the slow loops of tests/naive.py."""
    outs = []
    a = np.asarray(x, dtype=float).reshape(K_shape(net.input_shape))
    for layer, (spec, act) in enumerate(zip(net.specs, net.activations)):
        row = net.layout[layer]
        g = [int(v) for v in row[K.C_IN:K.C_IN + 12]]
        stride, pad, out_hw = (g[8], g[9]), (g[10], g[11]), (g[4], g[5])
        if spec.kind.startswith("conv"):
            z = naive.conv(a, net.kernels(params, layer), net.bias(params, layer), stride, pad, out_hw)
        elif spec.kind.startswith("local"):
            b = net.bias(params, layer).reshape(g[3], g[4], g[5])
            z = naive.local(a, net.kernels(params, layer), b, stride, pad)
        elif spec.kind.startswith("pool"):
            z = naive.pool(a, spec.op, (g[6], g[7]), stride, pad, out_hw)
        elif spec.kind in ("flatten", "dropout"):
            z = a.copy()
        else:
            z = net.weights(params, layer) @ a.ravel() + net.bias(params, layer)
        a = naive.activation(act, z.ravel(), 0.1)
        outs.append(a.copy())
        a = a.reshape(K_shape(net.shapes()[layer]))
    return outs


def K_shape(shape):
    from rulelab.core.network import as_chw

    return as_chw(shape)


# Each case: input shape, layers, activations.  Strides, paddings and kernel shapes vary.
KINDS = {
    "conv2d valid": ((2, 6, 5), [conv2d(3, 3)], ["tanh"]),
    "conv2d same": ((1, 5, 6), [conv2d(2, 3, padding="same")], ["relu"]),
    "conv2d stride 2 same": ((2, 7, 6), [conv2d(3, 3, 2, "same")], ["sigmoid"]),
    "conv2d stride 2 pad 1": ((1, 8, 7), [conv2d(2, (3, 2), (2, 1), (1, 1))], ["leaky_relu"]),
    "conv2d even kernel same": ((1, 6, 6), [conv2d(2, 4, 1, "same")], ["linear"]),
    "conv1d valid": ((2, 9), [conv1d(3, 4)], ["tanh"]),
    "conv1d stride 2 pad 1": ((1, 12), [conv1d(2, 5, 2, 1)], ["relu"]),
    "conv1d same": ((3, 7), [conv1d(2, 3, 1, "same")], ["linear"]),
    "local2d": ((2, 5, 5), [local2d(2, 3, 1, 1)], ["tanh"]),
    "local2d stride 2": ((1, 6, 6), [local2d(2, 2, 2)], ["linear"]),
    "local1d": ((2, 8), [local1d(3, 3, 2, "same")], ["sigmoid"]),
    "max pool 2d": ((2, 6, 6), [pool2d(2, "max")], ["linear"]),
    "max pool 2d overlapping same": ((2, 5, 5), [pool2d(3, "max", 2, "same")], ["linear"]),
    "average pool 2d pad 1": ((1, 5, 6), [pool2d(3, "average", 2, 1)], ["linear"]),
    "l2 pool 2d": ((2, 4, 6), [pool2d(2, "l2")], ["linear"]),
    "max pool 1d": ((2, 9), [pool1d(3, "max", 2)], ["linear"]),
    "average pool 1d same": ((1, 7), [pool1d(2, "average", None, "same")], ["linear"]),
    "l2 pool 1d": ((3, 8), [pool1d(2, "l2", 1)], ["linear"]),
    "flatten": ((2, 3, 3), [L("flatten")], ["linear"]),
    "dropout": ((4,), [L("dropout", rate=0.5)], ["linear"]),
}
# Every stack ends in 3 outputs: the tests' targets are rows of np.eye(3).  (The lenet-like stack once ended in
# 5, and its targets of 3 made the kernels read two values past each target row — past the end of the last
# one: whatever memory followed, now and then NaN, in both passes alike.  That was the flake of sessions 8–9.)
STACKS = {
    "lenet-like 2d": ((1, 8, 8), [conv2d(3, 3, padding="same", activation="relu"), pool2d(2), conv2d(4, 3),
                                   L("flatten"), L("dense", 3)], ["relu", "linear", "tanh", "linear", "softmax"]),
    "mnist1d-like": ((1, 20), [conv1d(3, 5, 2, 1), conv1d(4, 3, 2, 1), L("flatten"), L("dense", 3)],
                     ["relu", "relu", "linear", "softmax"]),
    "local, pools and dropout": ((2, 6, 6), [local2d(2, 3, 1, 1), pool2d(2, "l2"), L("dropout", rate=0.3),
                                            conv2d(2, 2), pool2d(2, "average"), L("dense", 3)],
                                  ["tanh", "linear", "linear", "sigmoid", "linear", "softmax"]),
    "1d pools": ((2, 10), [conv1d(2, 3, 1, "same"), pool1d(2, "max"), local1d(2, 2), pool1d(2, "l2", 1),
                           L("dense", 3)], ["leaky_relu", "linear", "tanh", "linear", "softmax"]),
}
ALL = {**KINDS, **STACKS}


def with_head(case):
    """A single-kind case gets a dense softmax head, so that the loss sees every unit."""
    shape, specs, acts = case
    if len(specs) > 1:
        return case
    return shape, specs + [L("dense", 3)], acts + ["softmax"]


@pytest.mark.parametrize("name", sorted(ALL))
def test_forward_matches_slow_loops(name):
    shape, specs, acts = with_head(ALL[name])
    net, params = make(shape, specs, acts, seed=1)
    rng = np.random.default_rng(2)
    x = rng.normal(size=net.sizes[0])
    z, a = np.empty(net.n_units), np.empty(net.n_units)
    K.forward(params, net.layout, net.act_args, x, z, a)
    for layer, expected in enumerate(naive_forward(net, params, x)):
        np.testing.assert_allclose(K.layer_buffer(a, net.layout, layer), expected, rtol=1e-12, atol=1e-12,
                                   err_msg=f"layer {layer} ({net.specs[layer].kind})")


@pytest.mark.parametrize("name", sorted(ALL))
def test_minibatch_forward_matches_one_sample(name):
    shape, specs, acts = with_head(ALL[name])
    net, params = make(shape, specs, acts, seed=3)
    X = np.random.default_rng(4).normal(size=(5, net.sizes[0]))
    z, a = np.empty(net.n_units), np.empty(net.n_units)
    inp = X
    for layer in range(net.n_layers):
        Z, A = forward_rows(params, net.layout, net.act_args, layer, inp)
        for r in range(X.shape[0]):
            K.forward(params, net.layout, net.act_args, X[r], z, a)
            np.testing.assert_allclose(A[r], K.layer_buffer(a, net.layout, layer), rtol=1e-12, atol=1e-13)
        inp = A


def loss_of(net, params, x, t, seed=NO_DROPOUT):
    z, a = np.empty(net.n_units), np.empty(net.n_units)
    out = K.forward_seeded(params, net.layout, net.act_args, x, z, a, seed)
    return K.sample_loss(K.CROSS_ENTROPY, out.copy(), t, net.layout[-1, K.ACT])


def numeric_gradient(f, v, h=1e-6):
    g = np.empty_like(v)
    for i in range(v.size):
        up, down = v.copy(), v.copy()
        up[i] += h
        down[i] -= h
        g[i] = (f(up) - f(down)) / (2 * h)
    return g


def backprop_gradient(net, params, x, t, state=None, rule=Backprop):
    instance = rule(loss="cross_entropy")
    state = instance.init_state(net, np.random.default_rng(0)) if state is None else state
    G.accumulate_gradient(params, net.layout, net.act_args, state, x, t, K.CROSS_ENTROPY, instance.mode, 1.0)
    g0 = 1 + 3 * net.n_units
    return state[g0:g0 + net.n_params].copy(), state


@pytest.mark.parametrize("name", sorted(ALL))
def test_backward_matches_finite_differences(name):
    shape, specs, acts = with_head(ALL[name])
    net, params = make(shape, specs, acts, seed=5)
    assert net.sizes[-1] == 3  # the target's width
    rng = np.random.default_rng(6)
    x, t = rng.normal(size=net.sizes[0]), np.eye(3)[1]
    grad, state = backprop_gradient(net, params, x, t)
    # With dropout, the pass is the one seeded by the state's key at update 0 (what the gradient used).
    key = G.dropout_key(net.layout, state)
    seed = NO_DROPOUT if key == NO_DROPOUT else dropout_seed(key, 0, 0)
    expected = numeric_gradient(lambda p: loss_of(net, p, x, t, seed), params)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)
    # ∂E/∂x through every kind (input optimisation): the same chain carried one step further.
    n = net.n_units
    gx = np.empty(net.sizes[0])
    G.input_gradient(params, net.layout, net.act_args, x, t, K.CROSS_ENTROPY, 0, -1, False, np.empty(n),
                     np.empty(n), np.empty(n), gx)
    np.testing.assert_allclose(gx, numeric_gradient(lambda v: loss_of(net, params, v, t), x), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", sorted(STACKS))
@pytest.mark.parametrize("rule", [Backprop, FeedbackAlignment, DirectFeedbackAlignment])
def test_minibatch_gradient_is_the_mean_of_one_sample_gradients(name, rule):
    shape, specs, acts = STACKS[name]
    net, params = make(shape, specs, acts, seed=7)
    rng = np.random.default_rng(8)
    X = rng.normal(size=(4, net.sizes[0]))
    assert net.sizes[-1] == 3  # the targets' width (see STACKS)
    T = np.eye(3)[rng.integers(0, 3, 4)]
    instance = rule(loss="cross_entropy")
    state = instance.init_state(net, np.random.default_rng(9))
    # Neither pass may write to its inputs.
    inputs = (params.copy(), X.copy(), state.copy(), net.layout.copy())
    expected = np.zeros(net.n_params)
    for r in range(4):
        s = state.copy()
        g0 = 1 + 3 * net.n_units
        s[g0:g0 + net.n_params] = 0.0
        G.accumulate_gradient(params, net.layout, net.act_args, s, X[r], T[r], K.CROSS_ENTROPY, instance.mode, 1.0)
        expected += s[g0:g0 + net.n_params] / 4
    for kept, now in zip(inputs, (params, X, state, net.layout)):
        np.testing.assert_array_equal(now, kept)
    if "dropout" in net.kinds:
        return  # per-sample passes draw row 0's mask every time; the minibatch draws one per row
    batch_state = state.copy()
    G.batch_gradient(params, net.layout, net.act_args, batch_state, X, T, K.CROSS_ENTROPY, instance.mode)
    for kept, now in zip(inputs, (params, X, state, net.layout)):
        np.testing.assert_array_equal(now, kept)
    g0 = 1 + 3 * net.n_units
    # Softmax cross-entropy through weights of std 0.5 on inputs of std 1: every component is far below 1e3.
    assert np.max(np.abs(expected)) < 1e3
    np.testing.assert_allclose(batch_state[g0:g0 + net.n_params], expected, rtol=1e-10, atol=1e-13)


def test_feedback_alignment_with_kernels_equal_to_weights_is_backprop():
    shape, specs, acts = STACKS["lenet-like 2d"]
    net, params = make(shape, specs, acts, seed=10)
    rng = np.random.default_rng(11)
    x, t = rng.normal(size=net.sizes[0]), np.eye(3)[2]
    bp, _ = backprop_gradient(net, params, x, t)
    state = FeedbackAlignment().init_state(net, np.random.default_rng(12))
    fb = 1 + 3 * net.n_units + 3 * net.n_params
    for layer in range(1, net.n_layers):  # B_l := W_l (a conv layer's B is a kernel of its shape)
        w = params[net.layout[layer, K.W_OFF]:net.layout[layer, K.B_OFF]]
        state[fb:fb + w.size] = w
        fb += w.size
    assert fb == state.size
    fa, _ = backprop_gradient(net, params, x, t, state, FeedbackAlignment)
    np.testing.assert_allclose(fa, bp, rtol=1e-12, atol=1e-15)
    random_fa, _ = backprop_gradient(net, params, x, t, None, FeedbackAlignment)
    conv_layer = slice(0, int(net.layout[0, K.B_OFF]))
    assert not np.allclose(random_fa[conv_layer], bp[conv_layer])


def test_direct_feedback_alignment_reaches_a_conv_layer_through_its_own_matrix():
    """δ_conv = (D δ_L) ⊙ g′(z_conv), ∂E/∂W = Σ_positions δ x_patch: checked with NumPy."""
    net, params = make((1, 6, 6), [conv2d(2, 3, activation="tanh"), pool2d(2), L("dense", 3)],
                       ["tanh", "linear", "softmax"], seed=13)
    rng = np.random.default_rng(14)
    x, t = rng.normal(size=36), np.eye(3)[0]
    grad, state = backprop_gradient(net, params, x, t, None, DirectFeedbackAlignment)
    fb = 1 + 3 * net.n_units + 3 * net.n_params
    D = state[fb:fb + 32 * 3].reshape(32, 3)  # only the conv layer has a D (the pooling has no weights)
    assert state.size == fb + 32 * 3
    z = naive.conv(x.reshape(1, 6, 6), net.kernels(params, 0), net.bias(params, 0), (1, 1), (0, 0), (4, 4))
    h = np.tanh(z)
    out = naive.activation("softmax", net.weights(params, 2) @ naive.pool(h, "max", (2, 2), (2, 2), (0, 0),
                                                                           (2, 2)).ravel() + net.bias(params, 2))
    delta = (D @ (out - t)).reshape(2, 4, 4) * (1 - h ** 2)
    expected = np.zeros((2, 1, 3, 3))
    for o in range(2):
        for i in range(3):
            for j in range(3):
                expected[o, 0, i, j] = np.sum(delta[o] * x.reshape(6, 6)[i:i + 4, j:j + 4])
    np.testing.assert_allclose(grad[:18], expected.ravel(), rtol=1e-10)
    np.testing.assert_allclose(grad[18:20], delta.sum(axis=(1, 2)), rtol=1e-10)


# ------------------------------------------------------------------ shapes


@pytest.mark.parametrize("n", [1, 5, 7, 8, 12])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same", 0, 1, 2])
def test_output_sizes_for_every_padding_and_stride(n, kernel, stride, padding):
    """valid: ⌊(n − k)/s⌋ + 1; same: ⌈n/s⌉; p zeros each side: ⌊(n + 2p − k)/s⌋ + 1 (PyTorch's formula)."""
    spec = conv1d(2, kernel, stride, padding)
    if padding == "valid":
        expected = (n - kernel) // stride + 1 if n >= kernel else None
    elif padding == "same":
        expected = math.ceil(n / stride)
    else:
        expected = (n + 2 * padding - kernel) // stride + 1 if n + 2 * padding >= kernel else None
    if expected is None:
        with pytest.raises(ValueError, match="does not fit"):
            output_shape(spec, (1, n))
        return
    shape, geometry = output_shape(spec, (1, n))
    assert shape == (2, expected)
    pad = geometry[11]  # zeros before the first input: all of them for an explicit padding, half for same
    assert pad == (0 if padding == "valid" else padding if padding != "same"
                   else max((expected - 1) * stride + kernel - n, 0) // 2)
    net, params = make((1, n), [spec], ["linear"])
    x = np.random.default_rng(0).normal(size=n)
    z, a = np.empty(net.n_units), np.empty(net.n_units)
    K.forward(params, net.layout, net.act_args, x, z, a)
    np.testing.assert_allclose(a, naive_forward(net, params, x)[0], rtol=1e-12, atol=1e-12)


def test_shapes_are_refused_with_the_layer_named():
    with pytest.raises(LayerShapeError, match=r"layer 1 \(conv2d 4 × 3×3.*needs an input of shape \(channels, "
                                              r"height, width\); it gets \(4, 3\)"):
        Network.from_layers((1, 8), [conv1d(4, 6), conv2d(4, 3)], ["relu", "relu"])
    with pytest.raises(LayerShapeError, match="a kernel of 9 does not fit an input of 8"):
        Network.from_layers((1, 8, 8), [conv2d(2, 9)], ["relu"])
    with pytest.raises(LayerShapeError, match="smaller than the pooling window"):
        Network.from_layers((1, 8, 8), [pool2d(2, "max", 2, 2)], ["linear"])


def test_layout_and_parameter_counts():
    net = Network.from_layers((1, 8, 8), [conv2d(8, 3, padding="same"), pool2d(2), L("flatten"), L("dense", 10)],
                              ["relu", "linear", "linear", "softmax"])
    assert net.shapes() == [(8, 8, 8), (8, 4, 4), (128,), (10,)]
    assert [net.layer_params(layer) for layer in range(4)] == [8 * 9 + 8, 0, 0, 128 * 10 + 10]
    assert net.n_params == 80 + 1290 and net.sizes == (64, 512, 128, 128, 10)
    row = net.layout[0]
    assert list(row[K.C_IN:K.PW + 1]) == [1, 8, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1]
    assert net.layout[1, K.KIND] == K.MAX_POOL and net.layout[3, K.W_OFF] == 80
    local = Network.from_layers((2, 5), [local1d(3, 3)], ["tanh"])
    assert local.layer_params(0) == 3 * 3 * (2 * 3) + 9  # a kernel and a bias per output unit


# ------------------------------------------------------------------ equivariance and invariance


def test_convolution_is_equivariant_to_shifts():
    """Shift the input by (1, 2) and the feature map shifts by (1, 2) (away from the borders)."""
    net, params = make((2, 10, 10), [conv2d(3, 3, padding="same")], ["linear"], seed=15)
    x = np.zeros((2, 10, 10))
    x[:, 2:6, 3:6] = np.random.default_rng(16).normal(size=(2, 4, 3))
    shifted = np.roll(x, (1, 2), axis=(1, 2))
    z, a = np.empty(net.n_units), np.empty(net.n_units)
    maps = K.forward(params, net.layout, net.act_args, x.ravel(), z, a).copy().reshape(3, 10, 10)
    maps_shifted = K.forward(params, net.layout, net.act_args, shifted.ravel(), z, a).reshape(3, 10, 10)
    bias = net.bias(params, 0)[:, None, None]
    # Zero-padded inputs: the map of the shifted input is the shifted map (its bias everywhere else).
    np.testing.assert_allclose(maps_shifted - bias, np.roll(maps - bias, (1, 2), axis=(1, 2)), atol=1e-12)
    # A stride breaks it: stride 2 sees a shift by one as a different sampling.
    strided, p2 = make((1, 8), [conv1d(1, 3, 2)], ["linear"], seed=17)
    s = np.random.default_rng(18).normal(size=8)
    z1, a1 = np.empty(3), np.empty(3)
    one = K.forward(p2, strided.layout, strided.act_args, s, z1, a1).copy()
    two = K.forward(p2, strided.layout, strided.act_args, np.roll(s, 1), z1, a1)
    assert not np.allclose(one[1:], two[:-1])


@pytest.mark.parametrize("op", ["max", "average", "l2"])
def test_pooling_is_invariant_to_shifts_within_a_window(op):
    """A feature that moves inside its pooling window: max pooling does not notice; average and L2
    do not either when the window holds nothing else; a move into the next window does change it."""
    net, params = make((1, 4, 4), [pool2d(2, op)], ["linear"])
    z, a = np.empty(4), np.empty(4)
    results = []
    for position in [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2)]:
        x = np.zeros((1, 4, 4))
        x[(0,) + position] = 3.0
        results.append(K.forward(params, net.layout, net.act_args, x.ravel(), z, a).copy())
    for same in results[1:4]:
        np.testing.assert_array_equal(same, results[0])
    assert not np.array_equal(results[4], results[0])
    # Max pooling ignores a weaker neighbour in the same window; average pooling does not.
    x = np.zeros((1, 4, 4))
    x[0, 0, 0], x[0, 1, 1] = 3.0, 1.0
    out = K.forward(params, net.layout, net.act_args, x.ravel(), z, a)
    assert (out[0] == 3.0) == (op == "max")


# ------------------------------------------------------------------ dropout


def test_dropout_keeps_one_minus_rate_scaled_and_is_off_in_evaluation():
    net, params = make((4000,), [L("dropout", rate=0.25)], ["linear"])
    x = np.ones(4000)
    z, a = np.empty(4000), np.empty(4000)
    np.testing.assert_array_equal(K.forward(params, net.layout, net.act_args, x, z, a), x)  # evaluation
    masked = K.forward_seeded(params, net.layout, net.act_args, x, z, a, dropout_seed(7, 3, 0)).copy()
    assert set(np.unique(masked)) == {0.0, 1 / 0.75}
    assert abs(np.mean(masked == 0.0) - 0.25) < 0.02
    again = K.forward_seeded(params, net.layout, net.act_args, x, z, a, dropout_seed(7, 3, 0))
    np.testing.assert_array_equal(again, masked)  # a hash of (key, update, row, unit): the same pass again
    other = K.forward_seeded(params, net.layout, net.act_args, x, z, a, dropout_seed(7, 4, 0))
    assert not np.array_equal(other, masked)
    Z, _ = forward_rows_seeded(params, net.layout, net.act_args, 0, np.ones((2, 4000)), 7, 3)
    np.testing.assert_array_equal(Z[0], masked)  # row r of a minibatch: the same mask as a pass of row r
    assert not np.array_equal(Z[1], masked)

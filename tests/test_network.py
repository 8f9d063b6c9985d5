"""Layout tables and seeded initialisation schemes."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.core import kernels as K
from rulelab.core.network import Network, encode_targets, init_params


def test_layout_offsets():
    net = Network((3, 4, 2), ("relu", "softmax"))
    np.testing.assert_array_equal(net.layout[:, :K.KIND + 1], [[0, 12, 3, 4, K.RELU, 0, -1, K.DENSE],
                                                             [16, 24, 4, 2, K.SOFTMAX, 4, -1, K.DENSE]])
    assert net.layout.shape == (2, K.LAYOUT_COLUMNS) and not net.layout[:, K.G0:].any()  # dense: no geometry
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2
    params = np.arange(net.n_params, dtype=float)
    np.testing.assert_array_equal(net.weights(params, 1), np.arange(16, 24).reshape(2, 4))
    # The compiled view is the same memory.
    np.testing.assert_array_equal(K.weights(params, net.layout, 1), net.weights(params, 1))


def test_init_schemes_statistics():
    net = Network((400, 300), ("tanh",))
    rng = np.random.default_rng
    w = init_params(net, rng(0), "glorot")[:120000]
    limit = np.sqrt(6 / 700)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert w.std() == pytest.approx(limit / np.sqrt(3), rel=0.01)
    assert init_params(net, rng(0), "he")[:120000].std() == pytest.approx(np.sqrt(2 / 400), rel=0.01)
    assert init_params(net, rng(0), "normal", sigma=0.3)[:120000].std() == pytest.approx(0.3, rel=0.01)
    u = init_params(net, rng(0), "uniform", scale=0.2)
    assert np.abs(u).max() <= 0.2 and np.all(u[120000:] == 0)  # biases zero by default
    assert np.abs(init_params(net, rng(0), "uniform", scale=0.2, bias_init="same")[120000:]).max() > 0
    assert not init_params(net, rng(0), "zeros").any()


def test_init_is_seeded_and_dtype_kept():
    net = Network((5, 3), ("sigmoid",), dtype="float32")
    a = init_params(net, np.random.default_rng(1))
    b = init_params(net, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32


def test_given_weights():
    net = Network((2, 1), ("step",))
    p = init_params(net, np.random.default_rng(0), "given", given=[{"weights": [[0.5, 0.5]], "bias": [-0.8]}])
    np.testing.assert_array_equal(p, [0.5, 0.5, -0.8])


def test_target_encoding():
    labels = np.array([0, 2, 1])
    np.testing.assert_array_equal(encode_targets(labels, 3, "softmax"), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(encode_targets(np.array([0, 1]), 1, "sign"), [[-1], [1]])
    np.testing.assert_array_equal(encode_targets(np.array([0, 1]), 1, "step"), [[0], [1]])


def test_unknown_activation_or_kind_is_an_error_not_an_identity():
    from rulelab.core.layout import check_layout

    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        Network((3, 2), ("swish",))
    layout = Network((3, 2), ("tanh",)).layout.copy()
    layout[0, K.ACT] = 42
    with pytest.raises(ValueError, match="unknown activation code"):
        check_layout(layout)
    # Compiled code never treats an undeclared code as the identity: it gives NaN.
    assert np.isnan(K.activate_scalar(42, 0.0, 0.5))
    layout[0, K.ACT] = K.TANH
    layout[0, K.KIND] = 99
    with pytest.raises(ValueError, match="unknown layer kind"):
        check_layout(layout)
    out = K.forward(np.ones(8), layout, np.zeros(1), np.ones(3), np.empty(2), np.empty(2))
    assert np.isnan(out).all()

"""Activations, derivatives, forward passes and evaluation against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rulelab.core import kernels as K
from tests import naive
from tests.conftest import make_net

Z = [-3.0, -0.5, 0.0, 0.5, 3.0]


@pytest.mark.parametrize("z", Z)
def test_activations_closed_forms(z):
    assert K.activate_scalar(K.LINEAR, 0.0, z) == z
    assert K.activate_scalar(K.STEP, 1.0, z) == (1.0 if z >= 0 else 0.0)  # the argument: step(0), 1 by default
    assert K.activate_scalar(K.SIGN, 1.0, z) == (1.0 if z >= 0 else -1.0)
    assert K.activate_scalar(K.SIGMOID, 0.0, z) == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-15)
    assert K.activate_scalar(K.TANH, 0.0, z) == pytest.approx(math.tanh(z), rel=1e-15)
    assert K.activate_scalar(K.RELU, 0.0, z) == max(z, 0.0)
    assert K.activate_scalar(K.LEAKY_RELU, 0.2, z) == (z if z > 0 else 0.2 * z)


def test_sigmoid_does_not_overflow():
    assert K.activate_scalar(K.SIGMOID, 0.0, -1000.0) == 0.0
    assert K.activate_scalar(K.SIGMOID, 0.0, 1000.0) == 1.0


@pytest.mark.parametrize("z", Z)
def test_derivatives_closed_forms(z):
    def d(code, slope=0.0):
        return K.derivative_scalar(code, slope, z, K.activate_scalar(code, slope, z))

    s = 1 / (1 + math.exp(-z))
    assert d(K.SIGMOID) == pytest.approx(s * (1 - s), rel=1e-12)
    assert d(K.TANH) == pytest.approx(1 - math.tanh(z) ** 2, rel=1e-12)
    assert d(K.LINEAR) == 1.0
    assert d(K.RELU) == (1.0 if z > 0 else 0.0)
    assert d(K.LEAKY_RELU, 0.2) == (1.0 if z > 0 else 0.2)
    # Step and sign have no derivative: kernels get 0, and gradient rules refuse them.
    assert d(K.STEP) == 0.0 and d(K.SIGN) == 0.0


@pytest.mark.parametrize("z", [-2.0, -0.3, 0.7, 2.5])
def test_derivatives_match_finite_differences(z):
    h = 1e-6
    for code in (K.SIGMOID, K.TANH, K.LINEAR, K.RELU, K.LEAKY_RELU):
        numeric = (K.activate_scalar(code, 0.1, z + h) - K.activate_scalar(code, 0.1, z - h)) / (2 * h)
        analytic = K.derivative_scalar(code, 0.1, z, K.activate_scalar(code, 0.1, z))
        assert analytic == pytest.approx(numeric, abs=1e-8)


def test_softmax_closed_form():
    z = np.array([1.0, 2.0, 3.0])
    out = np.empty(3)
    K.softmax_into(z, out)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(out, e / e.sum(), rtol=1e-15)
    # Shift invariance keeps large inputs finite.
    K.softmax_into(z + 1000.0, out)
    np.testing.assert_allclose(out, e / e.sum(), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_forward_matches_naive(dtype):
    net, params = make_net([5, 4, 3, 2], ["tanh", "leaky_relu", "softmax"], dtype)
    x = np.random.default_rng(1).normal(size=5).astype(dtype)
    z_buf = np.empty(net.n_units, dtype=dtype)
    a_buf = np.empty(net.n_units, dtype=dtype)
    out = K.forward(params, net.layout, net.act_args, x, z_buf, a_buf)
    layers = [(net.weights(params, l).astype(float), net.bias(params, l).astype(float), a)
              for l, a in enumerate(net.activations)]
    expected = naive.forward(layers, x.astype(float), slope=0.1)
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(out, expected[-1], rtol=tol, atol=tol)
    np.testing.assert_allclose(a_buf[:4], expected[0], rtol=tol, atol=tol)
    assert out.dtype == np.dtype(dtype)


def test_evaluate_loss_and_accuracy_by_hand():
    # One linear unit, w = 1, b = 0: outputs equal inputs.
    net, params = make_net([1, 1], ["linear"], scheme="zeros", bias="zeros")
    params[:] = [1.0, 0.0]
    X = np.array([[0.2], [0.9], [0.6]])
    T = np.array([[0.0], [1.0], [0.0]])
    labels = np.array([0, 1, 0])
    loss, correct = K.evaluate(params, net.layout, net.act_args, X, T, labels, K.SQUARED, 0.5)
    assert loss == pytest.approx((0.5 * 0.2 ** 2 + 0.5 * 0.1 ** 2 + 0.5 * 0.6 ** 2) / 3)
    assert correct == 2  # 0.6 ≥ 0.5 is predicted as class 1


def test_cross_entropy_and_hinge_by_hand():
    out = np.array([0.7, 0.2, 0.1])
    t = np.array([1.0, 0.0, 0.0])
    assert K.sample_loss(K.CROSS_ENTROPY, out, t, K.SOFTMAX) == pytest.approx(-math.log(0.7))
    assert K.sample_loss(K.HINGE, np.array([2.0, 1.5, 0.0]), t, K.LINEAR) == pytest.approx(0.5)
    assert K.sample_loss(K.CROSS_ENTROPY, np.array([0.8]), np.array([0.0]), K.SIGMOID) == pytest.approx(-math.log(0.2))


def test_step_units_predict_by_largest_net_input():
    # Three step units (one per class), W = I, b = (0, −0.5, −3): for x = (0.9, 0.8, 0) the net inputs are
    # z = (0.9, 0.3, −3) and the outputs (1, 1, 0) tie; the class is argmax z = 0.  For x = (−1, −0.2, 0),
    # z = (−1, −0.7, −3): no unit fires (outputs 0, 0, 0), and argmax z = 1, not the "class 0" of an argmax of
    # the outputs.  Exact ties of z go to the lowest index: x = (0.5, 1, 0) gives z = (0.5, 0.5, −3) → 0.
    from rulelab.core.population import FITNESS_ACCURACY, population_fitness

    X = np.array([[0.9, 0.8, 0.0], [-1.0, -0.2, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 4.0]])
    labels = np.array([0, 1, 0, 2])
    T = np.zeros((4, 3))
    for act in ("step", "sign"):
        net, params = make_net([3, 3], [act], scheme="zeros", bias="zeros")
        params[:9] = np.eye(3).ravel()
        params[9:] = [0.0, -0.5, -3.0]
        np.testing.assert_array_equal(K.predict_all(params, net.layout, net.act_args, X, 0.5), [0, 1, 0, 2])
        _, correct = K.evaluate(params, net.layout, net.act_args, X, T, labels, K.SQUARED, 0.5)
        assert correct == 4
        # The outputs of sample 1 all say "no" (0, or −1 for sign): their argmax would be class 0.
        z, a = np.empty(3), np.empty(3)
        out = K.forward(params, net.layout, net.act_args, X[1], z, a)
        assert K.predict_class(out, 0.5) == 0 and K.predict_net(out, z, net.layout[0, K.ACT], 0.5) == 1
        # Population fitness by accuracy reads the same classes (members evaluated in compiled blocks).
        population = np.vstack([params, params])
        population[1, 9:] = [-3.0, 0.0, 0.0]  # member 1: z = (x₁ − 3, x₂, x₃) → classes 1, 2, 1, 2
        fitness = np.empty(2)
        population_fitness(population, net.layout, net.act_args, X, T, labels, K.SQUARED, 0.5, FITNESS_ACCURACY,
                           fitness)
        assert list(fitness) == [1.0, 0.25]
    # A sigmoid output is still read from its outputs (monotone in z: the same class).
    net, params = make_net([3, 3], ["sigmoid"], scheme="zeros", bias="zeros")
    params[:9] = np.eye(3).ravel()
    assert list(K.predict_all(params, net.layout, net.act_args, np.array([[0.1, 0.3, 0.2]]), 0.5)) == [1]

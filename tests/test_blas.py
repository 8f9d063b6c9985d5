"""The in-place BLAS product C ← αAB + βC used by minibatch SGD, against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from rulelab.core.blas import add_product


@njit
def _plain(c, a, b, alpha, beta):
    add_product(c, a, b, alpha, beta)


@njit
def _first_transposed(c, a_t, b, alpha, beta):
    add_product(c, a_t.T, b, alpha, beta)


@njit
def _second_transposed(c, a, b_t, alpha, beta):
    add_product(c, a, b_t.T, alpha, beta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_product_matches_numpy_for_every_operand_layout(dtype):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 7)).astype(dtype)
    b = rng.standard_normal((7, 3)).astype(dtype)
    c0 = rng.standard_normal((5, 3)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for call, first, second in [(_plain, a, b), (_first_transposed, np.ascontiguousarray(a.T), b),
                                (_second_transposed, a, np.ascontiguousarray(b.T))]:
        c = c0.copy()
        call(c, first, second, -0.5, 1.0)  # the SGD step: W ← W − η DᵀA
        np.testing.assert_allclose(c, c0 - 0.5 * (a.astype(float) @ b), rtol=tol, atol=tol)
    c = np.full((5, 3), np.nan, dtype)
    _plain(c, a, b, 2.0, 0.0)  # β = 0 never reads C: NaN there does not leak
    np.testing.assert_allclose(c, 2.0 * (a.astype(float) @ b), rtol=tol, atol=tol)


def test_add_product_with_an_empty_inner_dimension_scales_c():
    c = np.ones((2, 2))
    _plain(c, np.zeros((2, 0)), np.zeros((0, 2)), 1.0, 0.5)
    np.testing.assert_array_equal(c, np.full((2, 2), 0.5))
    c[:] = np.nan
    _plain(c, np.zeros((2, 0)), np.zeros((0, 2)), 1.0, 0.0)
    np.testing.assert_array_equal(c, np.zeros((2, 2)))


def test_add_product_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes do not match"):
        _plain(np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)), 1.0, 0.0)

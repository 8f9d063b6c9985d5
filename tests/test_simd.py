"""The vector-lane dot product gives exactly the bits of its written scalar order."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from rulelab.core import kernels as K


@njit
def _row_dot(params, offset, x):
    return K.row_dot(params, offset, x)


def lane_order_dot(w: np.ndarray, x: np.ndarray) -> float:
    """Slow reference in the dtype's own arithmetic: lane k sums products i ≡ k (mod 8) in
    ascending i, the lanes combine as ((0+1)+(2+3))+((4+5)+(6+7)), then the tail."""
    kind = w.dtype.type
    n = len(x)
    blocks = n // 8
    lanes = [kind(0)] * 8
    for i in range(8 * blocks):
        lanes[i % 8] = kind(lanes[i % 8] + kind(w[i] * x[i]))
    s = kind(kind(kind(lanes[0] + lanes[1]) + kind(lanes[2] + lanes[3]))
             + kind(kind(lanes[4] + lanes[5]) + kind(lanes[6] + lanes[7])))
    for i in range(8 * blocks, n):
        s = kind(s + kind(w[i] * x[i]))
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_dot_is_bit_identical_to_its_lane_order(dtype):
    rng = np.random.default_rng(7)
    for n in (0, 1, 7, 8, 9, 16, 31, 64, 100):
        for offset in (0, 3, 13):
            w = rng.standard_normal(n + 20).astype(dtype)
            x = rng.standard_normal(n).astype(dtype)
            got = _row_dot(w, offset, x)
            assert got == lane_order_dot(w[offset:offset + n], x), (n, offset)
            assert got == pytest.approx(float(w[offset:offset + n].astype(np.float64) @ x), rel=1e-4, abs=1e-4)


def test_row_dot_of_a_strided_view_takes_the_scalar_path_with_the_same_order():
    rng = np.random.default_rng(8)
    w = rng.standard_normal(40).astype(np.float32)
    column = rng.standard_normal((37, 3)).astype(np.float32)[:, 1]  # not contiguous
    assert _row_dot(w, 2, column) == lane_order_dot(w[2:39], np.ascontiguousarray(column))


def test_row_dot_keeps_float32_sums_in_float32():
    # Two products in lane 0 (i = 0 and i = 8): 2**24 + 1 is not a float32, so a float32 sum
    # drops the 1 while a float64 one keeps it.
    w = np.zeros(16, np.float32)
    x = np.zeros(16, np.float32)
    w[0], w[8], x[0], x[8] = 2.0 ** 24, 1.0, 1.0, 1.0
    assert _row_dot(w, 0, x) == np.float32(2.0 ** 24)
    assert _row_dot(w.astype(np.float64), 0, x.astype(np.float64)) == 2.0 ** 24 + 1

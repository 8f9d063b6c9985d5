"""The faster inliner (rulelab.core.inlining) is active with the installed Numba and inlines correctly."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import inlining


def test_the_installed_numba_gets_the_one_copy_inliner():
    # If a Numba release words inline_ir differently, compiling falls back to the stock (slower) copy:
    # this test says so, rather than letting the suite's cold time grow unnoticed.
    assert inlining.PATCHED
    from numba.core.inline_closurecall import InlineWorker

    assert getattr(InlineWorker.inline_ir, "_rulelab_whole_copy", False)


@njit(inline="always")
def _scaled_sum(x, scale):
    total = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0:
            total += scale * x[i]
        else:
            total -= x[i]
    return total


@njit(inline="always")
def _twice(x):
    return _scaled_sum(x, 2.0) + _scaled_sum(x[::-1], 0.5)


@njit
def _nested(x):
    return _twice(x) - _twice(x[:2])


def test_nested_inlined_calls_compute_what_python_does():
    x = np.array([1.5, -2.0, 3.25, -0.5])

    def scaled_sum(v, s):
        return sum(s * t if t > 0 else -t for t in v)

    def twice(v):
        return scaled_sum(v, 2.0) + scaled_sum(v[::-1], 0.5)

    assert _nested(x) == twice(x) - twice(x[:2])

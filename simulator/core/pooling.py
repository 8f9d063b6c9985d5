"""Layers without parameters: max, average and L2 pooling, flatten, and dropout.

Pooling summarises each channel over windows of KH × KW inputs, moved by the strides
(padding before the first row and column is skipped, never counted as a zero):

    max      z[c, r, q] = max_{(y,x) ∈ window} x[c, y, x]          error goes to the (first) maximum
    average  z[c, r, q] = (1/n) Σ_{(y,x) ∈ window} x[c, y, x]       n = inputs in the window
    L2       z[c, r, q] = √(Σ_{(y,x) ∈ window} x[c, y, x]²)          ∂z/∂x = x / z

Flatten passes a sample through unchanged (values are flat already; the layer exists to
say where a shape ends).  Dropout, while a gradient rule trains, keeps each unit with
probability 1 − rate and scales it by 1/(1 − rate) (inverted dropout); in evaluation it is
the identity.  Its masks are a counter-based hash of (run key, update, row, unit): nothing
is stored, the backward pass recomputes the mask, and the numbers do not depend on threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.conv import geometry
from rulelab.core.layout import A_OFF, AVG_POOL, L2_POOL, MAX_POOL
from rulelab.core.rows import FAST

# ------------------------------------------------------------------ pooling


@njit(cache=True, inline="always")
def window(r, stride, pad, kernel, n_in):
    """The input indices [lo, hi) of window r along one axis (padding left out)."""
    start = r * stride - pad
    return max(start, 0), min(start + kernel, n_in)


@njit(cache=True, fastmath=FAST, inline="always")
def _max_forward(plane, out, hin, win, hout, wout, kh, kw, sh, sw, ph, pw):
    for r in range(hout):
        y_lo, y_hi = window(r, sh, ph, kh, hin)
        for q in range(wout):
            x_lo, x_hi = window(q, sw, pw, kw, win)
            value = plane[y_lo * win + x_lo]
            for y in range(y_lo, y_hi):
                for xx in range(x_lo, x_hi):
                    v = plane[y * win + xx]
                    if v > value:
                        value = v
            out[r * wout + q] = value


@njit(cache=True, fastmath=FAST, inline="always")
def _sum_forward(plane, out, hin, win, hout, wout, kh, kw, sh, sw, ph, pw, squares):
    for r in range(hout):
        y_lo, y_hi = window(r, sh, ph, kh, hin)
        for q in range(wout):
            x_lo, x_hi = window(q, sw, pw, kw, win)
            total = 0.0
            for y in range(y_lo, y_hi):
                for xx in range(x_lo, x_hi):
                    v = plane[y * win + xx]
                    total += v * v if squares else v
            out[r * wout + q] = np.sqrt(total) if squares else total / ((y_hi - y_lo) * (x_hi - x_lo))


@njit(cache=True, fastmath=FAST)
def pool_forward(kind, layout, layer, x, z):
    """z[c, r, q] = max, mean or L2 norm of x[c] over window (r, q)."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    for c in range(cin):  # one loop nest per kind: the kind is tested once per channel
        plane = x[c * hin * win:(c + 1) * hin * win]
        out = z[c * hout * wout:(c + 1) * hout * wout]
        if kind == MAX_POOL:
            _max_forward(plane, out, hin, win, hout, wout, kh, kw, sh, sw, ph, pw)
        else:
            _sum_forward(plane, out, hin, win, hout, wout, kh, kw, sh, sw, ph, pw, kind == L2_POOL)


@njit(cache=True, fastmath=FAST)
def pool_error_down(kind, layout, layer, d, e, x, z):
    """e = ∂z/∂xᵀ d: to each window's first maximum, spread evenly (average), or scaled by x / z (L2)."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    e[:] = 0.0
    for c in range(cin):
        plane = x[c * hin * win:(c + 1) * hin * win]
        err = e[c * hin * win:(c + 1) * hin * win]
        grads = d[c * hout * wout:(c + 1) * hout * wout]
        outs = z[c * hout * wout:(c + 1) * hout * wout]
        for r in range(hout):
            y_lo, y_hi = window(r, sh, ph, kh, hin)
            for q in range(wout):
                x_lo, x_hi = window(q, sw, pw, kw, win)
                g = grads[r * wout + q]
                if kind == MAX_POOL:
                    best = y_lo * win + x_lo
                    top = plane[best]
                    for y in range(y_lo, y_hi):
                        for xx in range(x_lo, x_hi):
                            if plane[y * win + xx] > top:
                                best = y * win + xx
                                top = plane[best]
                    err[best] += g
                elif kind == AVG_POOL:
                    share = g / ((y_hi - y_lo) * (x_hi - x_lo))
                    for y in range(y_lo, y_hi):
                        for xx in range(x_lo, x_hi):
                            err[y * win + xx] += share
                elif outs[r * wout + q] > 0.0:
                    scale = g / outs[r * wout + q]
                    for y in range(y_lo, y_hi):
                        for xx in range(x_lo, x_hi):
                            err[y * win + xx] += scale * plane[y * win + xx]


# ------------------------------------------------------------------ dropout

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
NO_DROPOUT = -1  # the seed of a forward pass without dropout (evaluation, fixed features)


@njit(cache=True, inline="always")
def mix(v):
    """SplitMix64's finaliser: a bijection of 64-bit words that scatters every input bit (Steele et al. 2014)."""
    v = (v ^ (v >> np.uint64(30))) * _M1
    v = (v ^ (v >> np.uint64(27))) * _M2
    return v ^ (v >> np.uint64(31))


@njit(cache=True, inline="always")
def dropout_seed(key, step, row):
    """The mask seed of one forward pass: row ``row`` of update ``step`` in the run keyed ``key`` (≥ 0)."""
    h = mix(np.uint64(key) + _GOLDEN * np.uint64(step + 1))
    return np.int64(mix(h + _GOLDEN * np.uint64(row + 1)) >> np.uint64(1))  # ≥ 0: never NO_DROPOUT


@njit(cache=True, inline="always")
def kept_scale(seed, unit, rate):
    """0, or 1/(1 − rate) with probability 1 − rate: unit ``unit``'s factor in the pass seeded ``seed``."""
    u = (mix(np.uint64(seed) + _GOLDEN * np.uint64(unit + 1)) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return 0.0 if u < rate else 1.0 / (1.0 - rate)


@njit(cache=True, fastmath=FAST, inline="always")
def dropout_apply(layout, layer, rate, seed, x, out):
    """out = x ⊙ m with m_i ∈ {0, 1/(1 − rate)} (training, seed ≥ 0), or out = x (evaluation)."""
    if seed == NO_DROPOUT or rate == 0.0:
        for i in range(x.shape[0]):
            out[i] = x[i]
        return
    first = layout[layer, A_OFF]  # units are numbered across the whole net: every layer its own masks
    for i in range(x.shape[0]):
        out[i] = x[i] * kept_scale(seed, first + i, rate)

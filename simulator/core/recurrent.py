"""The recurrent layer kind: an Elman layer over a signal, and last_step, which keeps a signal's last position.

A recurrent layer reads a sample as T steps of F features, channel-major as every signal in the layer
table ((F, 1, T): x_t[f] = x[f·T + t]), and gives every step's state, (H, 1, T):

    h_t = W s_{t−1} + U x_t + b,   s_t = g(h_t),   s_{−1} = 0        (notes 004's unit)

so z holds h and a holds s.  Backpropagation through time splits in three, so that the layer fits the
layer model's one-sample passes:

    finish    δ_t = d_t + g′(h_t) ⊙ Wᵀ δ_{t+1}  (t = T−2 … 0, in place; d_t = e_t ⊙ g′(h_t) is what the layer above
              sent down, the error reaching s_t directly)
    error     e_x_t = Uᵀ δ_t                     (to the layer below)
    step      W += s Σ_t δ_t s_{t−1}ᵀ,  U += s Σ_t δ_t x_tᵀ,  b += s Σ_t δ_t

Parameters, one row per unit: row j = [W_j (H values) | U_j (F values)], then b (H).  The states and inputs of
a step are gathered into contiguous vectors, so every row's products run in rulelab's fixed-order vector lanes
(:func:`rulelab.core.rows.row_dot`, ``row_add``): the same numbers everywhere.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.activations import activate_scalar, derivative_scalar
from rulelab.core.layout import ACT, B_OFF, C_IN, C_OUT, W_IN, W_OFF
from rulelab.core.rows import row_add, row_dot


@njit(cache=True, inline="always")
def _sizes(layout, layer):
    """(F, T, H, row length H + F)."""
    f, t, h = layout[layer, C_IN], layout[layer, W_IN], layout[layer, C_OUT]
    return f, t, h, h + f


@njit(cache=True)
def recurrent_forward(params, layout, act_args, layer, x, z, a):
    """h_t = W s_{t−1} + U x_t + b into z, s_t = g(h_t) into a, for t = 0 … T−1 (channel-major: z[j·T + t])."""
    F, T, H, row = _sizes(layout, layer)
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    code, slope = layout[layer, ACT], act_args[layer]
    previous = np.zeros(H, dtype=params.dtype)  # s_{t−1}, contiguous: each row's products run in vector lanes
    step = np.empty(F, dtype=params.dtype)  # x_t
    for t in range(T):
        for f in range(F):
            step[f] = x[f * T + t]
        for j in range(H):
            base = w_off + j * row
            z[j * T + t] = params[b_off + j] + row_dot(params, base, previous) + row_dot(params, base + H, step)
        for j in range(H):
            s = activate_scalar(code, slope, z[j * T + t])
            a[j * T + t] = s
            previous[j] = s


@njit(cache=True)
def recurrent_finish(params, layout, act_args, layer, z, a, d):
    """δ_t = d_t + g′(h_t) ⊙ Wᵀ δ_{t+1} for t = T−2 … 0, in place: the error reaching each state through the
    later ones, added to what reached it directly."""
    F, T, H, row = _sizes(layout, layer)
    w_off = layout[layer, W_OFF]
    code, slope = layout[layer, ACT], act_args[layer]
    back = np.empty(H, dtype=d.dtype)
    for t in range(T - 2, -1, -1):
        back[:] = 0.0
        for j in range(H):  # Wᵀ δ_{t+1}, a row of W at a time (contiguous)
            row_add(back, 0, d[j * T + t + 1], params[w_off + j * row:w_off + j * row + H])
        for k in range(H):
            d[k * T + t] += derivative_scalar(code, slope, z[k * T + t], a[k * T + t]) * back[k]


@njit(cache=True)
def recurrent_error_down(matrix, base, layout, layer, d, e):
    """e_x_t = Uᵀ δ_t for every step: the error at the layer's input (U read from ``matrix`` at ``base``)."""
    F, T, H, row = _sizes(layout, layer)
    step = np.empty(F, dtype=e.dtype)
    for t in range(T):
        step[:] = 0.0
        for j in range(H):
            u = base + j * row + H
            row_add(step, 0, d[j * T + t], matrix[u:u + F])
        for f in range(F):
            e[f * T + t] = step[f]


@njit(cache=True)
def recurrent_add_step(target, layout, layer, scale, d, inp, out):
    """W += scale Σ_t δ_t s_{t−1}ᵀ,  U += scale Σ_t δ_t x_tᵀ,  b += scale Σ_t δ_t  (``out``: the layer's states)."""
    F, T, H, row = _sizes(layout, layer)
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    previous = np.empty(H, dtype=target.dtype)
    step = np.empty(F, dtype=target.dtype)
    for t in range(T):  # each weight still takes its terms in ascending t
        for f in range(F):
            step[f] = inp[f * T + t]
        if t > 0:
            for k in range(H):
                previous[k] = out[k * T + t - 1]
        for j in range(H):
            g = scale * d[j * T + t]
            base = w_off + j * row
            if t > 0:
                row_add(target, base, g, previous)
            row_add(target, base + H, g, step)
            target[b_off + j] += g


@njit(cache=True, inline="always")
def last_step_forward(layout, layer, x, z):
    """z_c = x_c at the last position T−1 of each channel c."""
    T = layout[layer, W_IN]
    for c in range(layout[layer, C_IN]):
        z[c] = x[c * T + T - 1]


@njit(cache=True, inline="always")
def last_step_error(layout, layer, d, e):
    """e = d at each channel's last position, 0 elsewhere."""
    T = layout[layer, W_IN]
    for i in range(e.shape[0]):
        e[i] = 0.0
    for c in range(layout[layer, C_IN]):
        e[c * T + T - 1] = d[c]

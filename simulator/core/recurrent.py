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

The step's arithmetic (:func:`elman_input`, :func:`add_transposed`, :func:`add_step_outer`) takes the rows of
W and U wherever they lie, and the sequence task's net (:mod:`rulelab.tasks.recurrent`: separate W and U, a
leak, a readout per step, e-prop) is built on the same three: one Elman step in rulelab.

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


# ------------------------------------------------------------------ the Elman step, wherever W and U lie
# One step's arithmetic, shared by this layer kind and the sequence task's net (rulelab.tasks.recurrent, whose
# W and U are separate matrices): rows W_j at ``w_at + j·w_stride``, U_j at ``u_at + j·u_stride``.


@njit(cache=True, inline="always")
def elman_input(params, w_at, w_stride, u_at, u_stride, b_at, previous, step, h):
    """h_j = b_j + W_j · s_{t−1} + U_j · x_t for every unit j: one step's input to the units."""
    for j in range(h.shape[0]):
        h[j] = (params[b_at + j] + row_dot(params, w_at + j * w_stride, previous)
                + row_dot(params, u_at + j * u_stride, step))


@njit(cache=True, inline="always")
def add_transposed(matrix, at, stride, width, delta, out):
    """out += Mᵀ δ = Σ_i δ_i M_i, rows M_i = matrix[at + i·stride : … + width] in ascending i (δ_i = 0 skipped):
    Wᵀ δ_{t+1} back through time, Uᵀ δ_t down to the input."""
    for i in range(delta.shape[0]):
        if delta[i] != 0.0:
            base = at + i * stride
            row_add(out, 0, delta[i], matrix[base:base + width])


@njit(cache=True, inline="always")
def add_step_outer(target, w_at, w_stride, u_at, u_stride, b_at, g, previous, step, bias_input):
    """W_j += g_j s_{t−1},  U_j += g_j x_t,  b_j += g_j · bias_input for every unit with g_j ≠ 0: one step's
    share of the weight step (``previous`` empty at t = 0, where s_{−1} = 0)."""
    for j in range(g.shape[0]):
        if g[j] != 0.0:
            row_add(target, w_at + j * w_stride, g[j], previous)
            row_add(target, u_at + j * u_stride, g[j], step)
            target[b_at + j] += g[j] * bias_input


# ------------------------------------------------------------------ the layer kind (channel-major signals)


@njit(cache=True)
def recurrent_forward(params, layout, act_args, layer, x, z, a):
    """h_t = W s_{t−1} + U x_t + b into z, s_t = g(h_t) into a, for t = 0 … T−1 (channel-major: z[j·T + t])."""
    F, T, H, row = _sizes(layout, layer)
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    code, slope = layout[layer, ACT], act_args[layer]
    previous = np.zeros(H, dtype=params.dtype)  # s_{t−1}, contiguous: each row's products run in vector lanes
    step = np.empty(F, dtype=params.dtype)  # x_t
    h = np.empty(H, dtype=params.dtype)
    for t in range(T):
        for f in range(F):
            step[f] = x[f * T + t]
        elman_input(params, w_off, row, w_off + H, row, b_off, previous, step, h)
        for j in range(H):
            z[j * T + t] = h[j]
            s = activate_scalar(code, slope, h[j])
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
    later = np.empty(H, dtype=d.dtype)  # δ_{t+1}, contiguous
    for t in range(T - 2, -1, -1):
        back[:] = 0.0
        for j in range(H):
            later[j] = d[j * T + t + 1]
        add_transposed(params, w_off, row, H, later, back)
        for k in range(H):
            d[k * T + t] += derivative_scalar(code, slope, z[k * T + t], a[k * T + t]) * back[k]


@njit(cache=True)
def recurrent_error_down(matrix, base, layout, layer, d, e):
    """e_x_t = Uᵀ δ_t for every step: the error at the layer's input (U read from ``matrix`` at ``base``)."""
    F, T, H, row = _sizes(layout, layer)
    step = np.empty(F, dtype=e.dtype)
    delta = np.empty(H, dtype=e.dtype)
    for t in range(T):
        step[:] = 0.0
        for j in range(H):
            delta[j] = d[j * T + t]
        add_transposed(matrix, base + H, row, F, delta, step)
        for f in range(F):
            e[f * T + t] = step[f]


@njit(cache=True)
def recurrent_add_step(target, layout, layer, scale, d, inp, out):
    """W += scale Σ_t δ_t s_{t−1}ᵀ,  U += scale Σ_t δ_t x_tᵀ,  b += scale Σ_t δ_t  (``out``: the layer's states)."""
    F, T, H, row = _sizes(layout, layer)
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    previous = np.empty(H, dtype=target.dtype)
    step = np.empty(F, dtype=target.dtype)
    g = np.empty(H, dtype=target.dtype)
    for t in range(T):  # each weight still takes its terms in ascending t
        for f in range(F):
            step[f] = inp[f * T + t]
        for j in range(H):
            g[j] = scale * d[j * T + t]
            if t > 0:
                previous[j] = out[j * T + t - 1]
        add_step_outer(target, w_off, row, w_off + H, row, b_off, g, previous[:H if t > 0 else 0], step, 1.0)


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

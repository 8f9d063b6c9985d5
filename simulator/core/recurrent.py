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

Parameters, one row per unit: row j = [W_j (H values) | U_j (F values)], then b (H).  Sums run in a fixed order
(ascending k, then f; ascending j for the errors), so a seed gives the same numbers everywhere.
"""

from __future__ import annotations

from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.activations import activate_scalar, derivative_scalar
from rulelab.core.layout import ACT, B_OFF, C_IN, C_OUT, W_IN, W_OFF


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
    for t in range(T):
        for j in range(H):
            base = w_off + j * row
            total = params[b_off + j]
            if t > 0:
                for k in range(H):
                    total += params[base + k] * a[k * T + t - 1]
            for f in range(F):
                total += params[base + H + f] * x[f * T + t]
            z[j * T + t] = total
        for j in range(H):
            a[j * T + t] = activate_scalar(code, slope, z[j * T + t])


@njit(cache=True)
def recurrent_finish(params, layout, act_args, layer, z, a, d):
    """δ_t = d_t + g′(h_t) ⊙ Wᵀ δ_{t+1} for t = T−2 … 0, in place: the error reaching each state through the
    later ones, added to what reached it directly."""
    F, T, H, row = _sizes(layout, layer)
    w_off = layout[layer, W_OFF]
    code, slope = layout[layer, ACT], act_args[layer]
    for t in range(T - 2, -1, -1):
        for k in range(H):
            back = 0.0
            for j in range(H):
                back += params[w_off + j * row + k] * d[j * T + t + 1]
            d[k * T + t] += derivative_scalar(code, slope, z[k * T + t], a[k * T + t]) * back


@njit(cache=True)
def recurrent_error_down(matrix, base, layout, layer, d, e):
    """e_x_t = Uᵀ δ_t for every step: the error at the layer's input (U read from ``matrix`` at ``base``)."""
    F, T, H, row = _sizes(layout, layer)
    for i in range(F * T):
        e[i] = 0.0
    for t in range(T):
        for j in range(H):
            dj = d[j * T + t]
            u = base + j * row + H
            for f in range(F):
                e[f * T + t] += matrix[u + f] * dj


@njit(cache=True)
def recurrent_add_step(target, layout, layer, scale, d, inp, out):
    """W += scale Σ_t δ_t s_{t−1}ᵀ,  U += scale Σ_t δ_t x_tᵀ,  b += scale Σ_t δ_t  (``out``: the layer's states)."""
    F, T, H, row = _sizes(layout, layer)
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    for j in range(H):
        base = w_off + j * row
        for t in range(T):
            g = scale * d[j * T + t]
            if t > 0:
                for k in range(H):
                    target[base + k] += g * out[k * T + t - 1]
            for f in range(F):
                target[base + H + f] += g * inp[f * T + t]
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

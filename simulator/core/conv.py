"""Convolution and locally connected layers: forward, error sent down and parameter step.

A layer's input x has shape (C_IN, H_IN, W_IN) and its output z (C_OUT, H_OUT, W_OUT), both
flat and channel-major (a 1-D signal is one row: H = 1).  Output position (r, q) sees the
input window whose top-left corner is (r·SH − PH, q·SW − PW); values outside the input are
zero (padding).  Like every deep-learning library, a conv layer computes a
cross-correlation (the notes' convolution S = Σ I(i − m, j − n) K(m, n) flips the kernel:
the same layer, with the kernel turned by 180°):

    conv   z[o, r, q] = b[o]       + Σ_{c,i,j} W[o, c, i, j]       · x[c, r·SH + i − PH, q·SW + j − PW]
    local  z[o, r, q] = b[o, r, q] + Σ_{c,i,j} W[o, r, q, c, i, j] · x[c, r·SH + i − PH, q·SW + j − PW]

One sample copies its patches into a small matrix and runs compiled loops along rows of
positions (no BLAS: for one image a library call costs more than the work); a minibatch
of a conv layer builds the patch matrix once (im2col) and makes one BLAS product,
W (C_OUT × K) · Col (K × B·P), K = C_IN·KH·KW, P = H_OUT·W_OUT.  Sums run in a fixed
order (strict IEEE), so every result is reproducible.  The per-sample kernels are called,
not inlined: a call (~75 ns) is nothing next to a layer's loops, and it keeps each
training kernel small to compile.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.blas import add_product
from rulelab.core.layout import (B_OFF, C_IN, C_OUT, H_IN, H_OUT, KH, KW, N_IN, PH, PW, SH, SW, W_IN, W_OFF, W_OUT)
from rulelab.core.rows import FAST, row_dot

# ------------------------------------------------------------------ geometry


@njit(cache=True, inline="always")
def geometry(layout, layer):
    """(C_IN, H_IN, W_IN, C_OUT, H_OUT, W_OUT, KH, KW, SH, SW, PH, PW) of a layer."""
    g = layout[layer]
    return g[C_IN], g[H_IN], g[W_IN], g[C_OUT], g[H_OUT], g[W_OUT], g[KH], g[KW], g[SH], g[SW], g[PH], g[PW]


@njit(cache=True, inline="always")
def valid_range(offset, pad, stride, n_in, n_out):
    """Output indices o in [lo, hi) whose input index o·stride + offset − pad lies in [0, n_in)."""
    lo = max(0, -((offset - pad) // stride))  # ceil((pad − offset) / stride)
    hi = min(n_out, (n_in - 1 + pad - offset) // stride + 1)
    return lo, max(lo, hi)


# ------------------------------------------------------------------ convolution, one sample
#
# One sample's patches go into a small matrix Col (K × P: row k = kernel tap (c, i, j), column p =
# output position), allocated per call (K·P values, nothing next to the K·P·C_OUT products):
# then every product runs along a contiguous row of P positions — an axpy for the forward
# pass and the error, a dot product (fixed-order vector lanes, rulelab.core.rows) for the
# kernel step — instead of along the few positions of one kernel row.


@njit(cache=True, fastmath=FAST, inline="always")
def fill_columns(layout, layer, x, col, first):
    """col[(c, i, j), first + p] = x[c, r·SH + i − PH, q·SW + j − PW] (0 outside) for p = r·W_OUT + q."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    for c in range(cin):
        for i in range(kh):
            r_lo, r_hi = valid_range(i, ph, sh, hin, hout)
            for j in range(kw):
                q_lo, q_hi = valid_range(j, pw, sw, win, wout)
                row = col[(c * kh + i) * kw + j]
                for r in range(hout):
                    dst = first + r * wout
                    if r < r_lo or r >= r_hi:
                        for q in range(wout):
                            row[dst + q] = 0.0
                        continue
                    src = (c * hin + r * sh + i - ph) * win + j - pw
                    for q in range(q_lo):
                        row[dst + q] = 0.0
                    for q in range(q_lo, q_hi):
                        row[dst + q] = x[src + q * sw]
                    for q in range(q_hi, wout):
                        row[dst + q] = 0.0


@njit(cache=True, fastmath=FAST, inline="always")
def add_columns_into(layout, layer, col, first, e):
    """e[c, y, x] += col[(c, i, j), first + p] over the positions p whose window holds (y, x): col2im."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    for c in range(cin):
        for i in range(kh):
            r_lo, r_hi = valid_range(i, ph, sh, hin, hout)
            for j in range(kw):
                q_lo, q_hi = valid_range(j, pw, sw, win, wout)
                row = col[(c * kh + i) * kw + j]
                for r in range(r_lo, r_hi):
                    dst = (c * hin + r * sh + i - ph) * win + j - pw
                    src = first + r * wout
                    for q in range(q_lo, q_hi):
                        e[dst + q * sw] += row[src + q]


@njit(cache=True, fastmath=FAST)
def conv_forward(params, layout, layer, x, z):
    """z[o, r, q] = b[o] + Σ_{c,i,j} W[o, c, i, j] · x[c, r·SH + i − PH, q·SW + j − PW]."""
    k_size = layout[layer, C_IN] * layout[layer, KH] * layout[layer, KW]
    positions = layout[layer, H_OUT] * layout[layer, W_OUT]
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    col = np.empty((k_size, positions), dtype=z.dtype)
    fill_columns(layout, layer, x, col, 0)
    for o in range(layout[layer, C_OUT]):
        zo = z[o * positions:(o + 1) * positions]
        bo = params[b_off + o]
        for p in range(positions):
            zo[p] = bo
        for k in range(k_size):  # taps in order (c, i, j): each a weight times a row of P inputs
            w = params[w_off + o * k_size + k]
            row = col[k]
            for p in range(positions):
                zo[p] += w * row[p]


@njit(cache=True, fastmath=FAST)
def conv_error_down(matrix, base, layout, layer, d, e):
    """e[c, y, x] = Σ W[o, c, i, j] · d[o, r, q] over the outputs (r, q) that window sees (y, x)."""
    k_size = layout[layer, C_IN] * layout[layer, KH] * layout[layer, KW]
    positions = layout[layer, H_OUT] * layout[layer, W_OUT]
    col = np.zeros((k_size, positions), dtype=e.dtype)
    for o in range(layout[layer, C_OUT]):
        do = d[o * positions:(o + 1) * positions]
        for k in range(k_size):
            w = matrix[base + o * k_size + k]
            row = col[k]
            for p in range(positions):
                row[p] += w * do[p]
    e[:] = 0.0
    add_columns_into(layout, layer, col, 0, e)


@njit(cache=True, fastmath=FAST)
def conv_add_step(target, layout, layer, scale, d, x):
    """W[o, c, i, j] += scale · Σ_{r,q} d[o, r, q] x[c, r·SH + i − PH, q·SW + j − PW],  b[o] += scale · Σ_{r,q} d[o, r, q]."""
    k_size = layout[layer, C_IN] * layout[layer, KH] * layout[layer, KW]
    positions = layout[layer, H_OUT] * layout[layer, W_OUT]
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    col = np.empty((k_size, positions), dtype=d.dtype)
    fill_columns(layout, layer, x, col, 0)
    flat = col.ravel()
    for o in range(layout[layer, C_OUT]):
        do = d[o * positions:(o + 1) * positions]
        total = 0.0
        for p in range(positions):
            total += do[p]
        target[b_off + o] += scale * total
        for k in range(k_size):  # Σ_p d[o, p] col[k, p] in fixed-order vector lanes
            target[w_off + o * k_size + k] += scale * row_dot(flat, k * positions, do)


# ------------------------------------------------------------------ locally connected, one sample


@njit(cache=True, fastmath=FAST)
def local_forward(params, layout, layer, x, z):
    """z[o, r, q] = b[o, r, q] + Σ_{c,i,j} W[o, r, q, c, i, j] · x[c, r·SH + i − PH, q·SW + j − PW]."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    k = cin * kh * kw
    positions = hout * wout
    for o in range(cout):
        for r in range(hout):
            for q in range(wout):
                unit = o * positions + r * wout + q
                row = w_off + unit * k
                acc = params[b_off + unit]
                for c in range(cin):
                    for i in range(kh):
                        y = r * sh + i - ph
                        if y < 0 or y >= hin:
                            continue
                        for j in range(kw):
                            xx = q * sw + j - pw
                            if 0 <= xx < win:
                                acc += params[row + (c * kh + i) * kw + j] * x[(c * hin + y) * win + xx]
                z[unit] = acc


@njit(cache=True, fastmath=FAST)
def local_error_down(matrix, base, layout, layer, d, e):
    """e[c, y, x] = Σ W[o, r, q, c, i, j] · d[o, r, q] over the output units whose window holds (y, x)."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    k = cin * kh * kw
    positions = hout * wout
    e[:] = 0.0
    for o in range(cout):
        for r in range(hout):
            for q in range(wout):
                unit = o * positions + r * wout + q
                row = base + unit * k
                du = d[unit]
                for c in range(cin):
                    for i in range(kh):
                        y = r * sh + i - ph
                        if y < 0 or y >= hin:
                            continue
                        for j in range(kw):
                            xx = q * sw + j - pw
                            if 0 <= xx < win:
                                e[(c * hin + y) * win + xx] += matrix[row + (c * kh + i) * kw + j] * du


@njit(cache=True, fastmath=FAST)
def local_add_step(target, layout, layer, scale, d, x):
    """W[o, r, q, c, i, j] += scale · d[o, r, q] · x[c, r·SH + i − PH, q·SW + j − PW],  b[o, r, q] += scale · d[o, r, q]."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    k = cin * kh * kw
    positions = hout * wout
    for o in range(cout):
        for r in range(hout):
            for q in range(wout):
                unit = o * positions + r * wout + q
                row = w_off + unit * k
                step = scale * d[unit]
                target[b_off + unit] += step
                for c in range(cin):
                    for i in range(kh):
                        y = r * sh + i - ph
                        if y < 0 or y >= hin:
                            continue
                        for j in range(kw):
                            xx = q * sw + j - pw
                            if 0 <= xx < win:
                                target[row + (c * kh + i) * kw + j] += step * x[(c * hin + y) * win + xx]


# ------------------------------------------------------------------ convolution, minibatches (rows are samples)


@njit(cache=True)
def columns(layout, layer, inp):
    """Col[(c, i, j), b·P + p] = inp[b, c, r·SH + i − PH, q·SW + j − PW] (0 outside): the patch matrix (im2col).

    Taps outside, samples inside: each tap's valid rows and columns are worked out once, and
    the copies run along rows of positions."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    batch = inp.shape[0]
    positions = hout * wout
    col = np.zeros((cin * kh * kw, batch * positions), dtype=inp.dtype)
    for c in range(cin):
        for i in range(kh):
            r_lo, r_hi = valid_range(i, ph, sh, hin, hout)
            for j in range(kw):
                q_lo, q_hi = valid_range(j, pw, sw, win, wout)
                row = col[(c * kh + i) * kw + j]
                for b in range(batch):
                    x = inp[b]
                    for r in range(r_lo, r_hi):
                        src = (c * hin + r * sh + i - ph) * win + j - pw
                        dst = b * positions + r * wout
                        if sw == 1:
                            row[dst + q_lo:dst + q_hi] = x[src + q_lo:src + q_hi]
                        else:
                            for q in range(q_lo, q_hi):
                                row[dst + q] = x[src + q * sw]
    return col


@njit(cache=True)
def conv_forward_rows(W, bias, layout, layer, col, batch):
    """Z[b, (o, p)] = (W · Col)[o, b·P + p] + bias[o]: a minibatch of a conv layer in one BLAS product
    (``col``: the patch matrix of its input, :func:`columns`)."""
    cout = layout[layer, C_OUT]
    positions = layout[layer, H_OUT] * layout[layer, W_OUT]
    product = np.dot(W, col)  # C_OUT × B·P
    Z = np.empty((batch, cout * positions), dtype=col.dtype)
    for b in range(batch):  # back to samples as rows, channel-major, with the bias added on the way
        for o in range(cout):
            src = product[o, b * positions:(b + 1) * positions]
            dst = Z[b, o * positions:(o + 1) * positions]
            bo = bias[o]
            for p in range(positions):
                dst[p] = src[p] + bo
    return Z


@njit(cache=True)
def channel_major(D, cout, positions):
    """Dc[o, b·P + p] = D[b, o·P + p]: a minibatch's deltas as one row per output channel."""
    batch = D.shape[0]
    Dc = np.empty((cout, batch * positions), dtype=D.dtype)
    for b in range(batch):
        for o in range(cout):
            Dc[o, b * positions:(b + 1) * positions] = D[b, o * positions:(o + 1) * positions]
    return Dc


@njit(cache=True)
def conv_error_rows(W, layout, layer, D):
    """E = col2im(Wᵀ · Dc): each patch's error summed back onto the input positions it came from."""
    cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw = geometry(layout, layer)
    batch = D.shape[0]
    positions = hout * wout
    patches = np.dot(W.T, channel_major(D, cout, positions))  # K × B·P
    E = np.zeros((batch, cin * hin * win), dtype=D.dtype)
    for c in range(cin):  # taps outside, samples inside (as in columns)
        for i in range(kh):
            r_lo, r_hi = valid_range(i, ph, sh, hin, hout)
            for j in range(kw):
                q_lo, q_hi = valid_range(j, pw, sw, win, wout)
                row = patches[(c * kh + i) * kw + j]
                for b in range(batch):
                    e = E[b]
                    for r in range(r_lo, r_hi):
                        dst = (c * hin + r * sh + i - ph) * win + j - pw
                        src = b * positions + r * wout
                        for q in range(q_lo, q_hi):
                            e[dst + q * sw] += row[src + q]
    return E


@njit(cache=True)
def conv_add_step_rows(W_target, b_target, layout, layer, D, col, alpha, accumulate):
    """W ← alpha · Dc · Colᵀ (+ W), b[o] ← alpha · Σ_{b,p} D[b, o, p] (+ b): one in-place GEMM for the kernels
    (``col``: the patch matrix of the layer's input, as the forward pass built it)."""
    cout = layout[layer, C_OUT]
    positions = layout[layer, H_OUT] * layout[layer, W_OUT]
    Dc = channel_major(D, cout, positions)
    add_product(W_target, Dc, col.T, alpha, 1.0 if accumulate else 0.0)
    for o in range(cout):
        total = 0.0
        for p in range(Dc.shape[1]):
            total += Dc[o, p]
        b_target[o] = alpha * total + (b_target[o] if accumulate else 0.0)

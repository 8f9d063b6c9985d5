"""The layout table: where each layer's parameters and activations live in flat vectors.

A network's parameters live in one flat vector ``params``; the int64 table ``layout``
has one row per layer:

    layout[l] = (W_OFF, B_OFF, N_IN, N_OUT, ACT, A_OFF, TIE, KIND, G0 … G9)

Layer ``l`` has a weight matrix ``W`` of shape (N_OUT, N_IN) stored row-major at
``params[W_OFF : W_OFF + N_OUT * N_IN]`` and a bias vector at
``params[B_OFF : B_OFF + N_OUT]`` (one convention everywhere: the notes' w0 on a
constant input a0 = 1 is this bias).  ``N_IN`` and ``N_OUT`` are the flat sizes of the
layer's input and output; ``ACT`` is an activation code (:mod:`rulelab.core.activations`)
and ``A_OFF`` is where the layer's outputs start in an activation buffer of length
``sum(N_OUT)``.  ``TIE`` is −1, or the index k of an encoder layer whose transpose this
(decoder) layer uses: W_l = W_kᵀ (tied autoencoders).  ``KIND`` says which layer kind
(:mod:`rulelab.core.layers` owns each kind's forward and backward pass), and ``G0 … G9``
hold the geometry a kind needs beyond flat sizes (channels, kernel, stride, padding, …;
unused by dense layers).  ``act_args[l]`` holds the activation's parameter (the slope of
leaky ReLU).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)

# Columns of the layout table.
W_OFF = 0
B_OFF = 1
N_IN = 2
N_OUT = 3
ACT = 4
A_OFF = 5
TIE = 6
KIND = 7
G0 = 8  # first geometry column
GEOMETRY_COLUMNS = 10
LAYOUT_COLUMNS = G0 + GEOMETRY_COLUMNS

# Layer kinds.
DENSE = 0
KIND_CODES = {"dense": DENSE}
KIND_NAMES = {code: name for name, code in KIND_CODES.items()}


@njit(cache=True, inline="always")
def weights(params, layout, layer):
    """View of layer ``layer``'s weight matrix W, shape (n_out, n_in)."""
    off = layout[layer, W_OFF]
    n_in = layout[layer, N_IN]
    n_out = layout[layer, N_OUT]
    return params[off:off + n_out * n_in].reshape((n_out, n_in))


@njit(cache=True, inline="always")
def bias(params, layout, layer):
    """View of layer ``layer``'s bias vector b, shape (n_out,)."""
    off = layout[layer, B_OFF]
    return params[off:off + layout[layer, N_OUT]]


@njit(cache=True, inline="always")
def layer_buffer(buf, layout, layer):
    """View of layer ``layer``'s slice of an activation-sized buffer."""
    off = layout[layer, A_OFF]
    return buf[off:off + layout[layer, N_OUT]]


@njit(cache=True, inline="always")
def n_units(layout):
    """Σ N_OUT: the length of an activation buffer."""
    last = layout.shape[0] - 1
    return layout[last, A_OFF] + layout[last, N_OUT]


@njit(cache=True, inline="always")
def n_params(layout):
    """The length of the flat parameter vector."""
    last = layout.shape[0] - 1
    return layout[last, B_OFF] + layout[last, N_OUT]


def dense_layout(sizes: list[int] | tuple[int, ...], codes: list[int] | tuple[int, ...],
                 tied: bool = False) -> np.ndarray:
    """Layout table for consecutive dense layers: each layer's W, then its b.

    With ``tied``, decoder layer l (second half) is tied to encoder layer L−1−l.
    """
    n_layers = len(sizes) - 1
    layout = np.zeros((n_layers, LAYOUT_COLUMNS), dtype=np.int64)
    offset = 0
    a_offset = 0
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layout[layer, W_OFF] = offset
        layout[layer, B_OFF] = offset + n_in * n_out
        layout[layer, N_IN] = n_in
        layout[layer, N_OUT] = n_out
        layout[layer, ACT] = codes[layer]
        layout[layer, A_OFF] = a_offset
        layout[layer, TIE] = n_layers - 1 - layer if tied and layer >= n_layers // 2 else -1
        layout[layer, KIND] = DENSE
        offset += n_in * n_out + n_out
        a_offset += n_out
    return layout


def check_layout(layout: np.ndarray) -> None:
    """Refuse a table with an undeclared layer kind or activation (before a run, not per sample)."""
    from rulelab.core.activations import check_codes

    if layout.ndim != 2 or layout.shape[1] != LAYOUT_COLUMNS or layout.dtype != np.int64:
        raise ValueError(f"a layout table is int64 with {LAYOUT_COLUMNS} columns; got {layout.dtype} "
                         f"{layout.shape}")
    unknown = sorted(set(int(k) for k in layout[:, KIND]) - set(KIND_NAMES))
    if unknown:
        raise ValueError(f"unknown layer kind code(s) {unknown}; known: {KIND_NAMES}")
    check_codes(layout[:, ACT])

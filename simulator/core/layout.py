"""The layout table: where each layer's parameters and activations live in flat vectors.

A network's parameters live in one flat vector ``params``; the int64 table ``layout``
has one row per layer:

    layout[l] = (W_OFF, B_OFF, N_IN, N_OUT, ACT, A_OFF, TIE, KIND, G0 … G11)

Every layer stores its weights at ``params[W_OFF : B_OFF]`` and its biases from ``B_OFF``
(:func:`n_biases` of them; the next layer starts right after).  ``N_IN`` and ``N_OUT`` are
the flat sizes of the layer's input and output; ``ACT`` is an activation code
(:mod:`rulelab.core.activations`) and ``A_OFF`` is where the layer's outputs start in an
activation buffer of length ``sum(N_OUT)``.  ``TIE`` is −1, or the index k of an encoder
layer whose transpose this (decoder) layer uses: W_l = W_kᵀ (tied autoencoders, dense
only).  ``KIND`` says which layer kind (:mod:`rulelab.core.layers` owns each kind's forward
and backward pass).  ``act_args[l]`` holds the activation's parameter (the slope of leaky
ReLU), or a dropout layer's rate.

What each kind stores (a sample's values are flat and channel-major: (C, H, W), a 1-D
signal of length L being (C, 1, L)):

    dense    W (N_OUT × N_IN) row-major, then b (N_OUT): the notes' w0 on a constant a0 = 1
    conv     W (C_OUT × C_IN × KH × KW), then b (C_OUT): one kernel per output channel, shared
             over every position
    local    W (N_OUT × C_IN·KH·KW): each output unit (channel-major order) its own kernel
             over its receptive field — the notes' "sparse W" —, then b (N_OUT)
    recurrent  W (H × H) and U (H × F) side by side, one row per unit: row j = [W_j | U_j] (H + F values),
             then b (H): an Elman layer over a signal of T steps of F features (C_IN = F, W_IN = T),
             h_t = W s_{t−1} + U x_t + b, s_t = g(h_t), s_{−1} = 0; its outputs are every s_t, (H, 1, T)
    pooling  (max, average, L2), flatten, dropout and last_step (a signal's last position, (C, 1, T) → C):
             no parameters

The geometry columns ``G0 … G11`` (``C_IN, H_IN, W_IN, C_OUT, H_OUT, W_OUT, KH, KW, SH, SW,
PH, PW``) give the input and output shapes, the kernel (or pooling window), the strides,
and the zero padding before the first row and column (the padding after them is implied
by the output size).  Dense layers leave them zero.
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
GEOMETRY_COLUMNS = 12
LAYOUT_COLUMNS = G0 + GEOMETRY_COLUMNS
# Geometry columns: input shape, output shape, kernel (or window), strides, padding before.
C_IN, H_IN, W_IN, C_OUT, H_OUT, W_OUT, KH, KW, SH, SW, PH, PW = range(G0, G0 + GEOMETRY_COLUMNS)

# Layer kinds (the scenario's conv1d and conv2d are both CONV: a 1-D layer has height 1).
DENSE = 0
CONV = 1
LOCAL = 2
MAX_POOL = 3
AVG_POOL = 4
L2_POOL = 5
FLATTEN = 6
DROPOUT = 7
RECURRENT = 8
LAST_STEP = 9
KIND_CODES = {"dense": DENSE, "conv": CONV, "local": LOCAL, "max_pool": MAX_POOL, "average_pool": AVG_POOL,
              "l2_pool": L2_POOL, "flatten": FLATTEN, "dropout": DROPOUT, "recurrent": RECURRENT,
              "last_step": LAST_STEP}
KIND_NAMES = {code: name for name, code in KIND_CODES.items()}


@njit(cache=True, inline="always")
def weights(params, layout, layer):
    """View of layer ``layer``'s weight matrix W, shape (n_out, n_in)."""
    off = layout[layer, W_OFF]
    n_in = layout[layer, N_IN]
    n_out = layout[layer, N_OUT]
    return params[off:off + n_out * n_in].reshape((n_out, n_in))


@njit(cache=True, inline="always")
def kernel_size(layout, layer):
    """The length of one unit's weight row: N_IN (dense), C_IN·KH·KW (conv, locally connected), or H + F
    (recurrent: [W_j | U_j])."""
    kind = layout[layer, KIND]
    if kind == DENSE:
        return layout[layer, N_IN]
    if kind == RECURRENT:
        return layout[layer, C_OUT] + layout[layer, C_IN]
    return layout[layer, C_IN] * layout[layer, KH] * layout[layer, KW]


@njit(cache=True, inline="always")
def weight_rows(params, layout, layer):
    """View of a layer's weights as rows: W (N_OUT × N_IN) dense, (C_OUT × C_IN·KH·KW) conv, (N_OUT × C_IN·KH·KW)
    locally connected; (0 × 0) for a layer without parameters."""
    off = layout[layer, W_OFF]
    k = kernel_size(layout, layer)
    rows = (layout[layer, B_OFF] - off) // k if k > 0 else 0
    return params[off:off + rows * k].reshape((rows, k))


@njit(cache=True, inline="always")
def n_biases(layout, layer):
    """How many biases layer ``layer`` has: one per output unit (dense, local), per channel (conv) or recurrent
    unit, or none."""
    kind = layout[layer, KIND]
    if kind == DENSE or kind == LOCAL:
        return layout[layer, N_OUT]
    if kind == CONV or kind == RECURRENT:
        return layout[layer, C_OUT]
    return 0


@njit(cache=True, inline="always")
def bias(params, layout, layer):
    """View of layer ``layer``'s bias vector b, shape (n_biases,)."""
    off = layout[layer, B_OFF]
    return params[off:off + n_biases(layout, layer)]


@njit(cache=True, inline="always")
def has_parameters(layout, layer):
    """Whether the layer has weights (dense, conv, locally connected, recurrent)."""
    kind = layout[layer, KIND]
    return kind == DENSE or kind == CONV or kind == LOCAL or kind == RECURRENT


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
    return layout[last, B_OFF] + n_biases(layout, last)


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
    for layer, row in enumerate(layout):
        if row[KIND] != DENSE and row[TIE] >= 0:
            raise ValueError(f"layer {layer}: only dense layers can be tied")
        if row[KIND] in (CONV, LOCAL, MAX_POOL, AVG_POOL, L2_POOL):
            if row[N_IN] != row[C_IN] * row[H_IN] * row[W_IN] or row[N_OUT] != row[C_OUT] * row[H_OUT] * row[W_OUT]:
                raise ValueError(f"layer {layer}: flat sizes do not match its geometry")
            if min(row[KH], row[KW], row[SH], row[SW], row[H_OUT], row[W_OUT]) < 1 or min(row[PH], row[PW]) < 0:
                raise ValueError(f"layer {layer}: kernel, strides and output size must be ≥ 1, padding ≥ 0")
        if row[KIND] == RECURRENT and (row[N_IN] != row[C_IN] * row[W_IN] or row[W_OUT] != row[W_IN]
                                       or row[N_OUT] != row[C_OUT] * row[W_OUT] or row[H_IN] != 1):
            raise ValueError(f"layer {layer}: a recurrent layer maps (F, 1, T) to (H, 1, T); its sizes do not match")
        if row[KIND] == LAST_STEP and (row[N_IN] != row[C_IN] * row[W_IN] or row[N_OUT] != row[C_IN]):
            raise ValueError(f"layer {layer}: last_step maps (C, 1, T) to C; its sizes do not match")

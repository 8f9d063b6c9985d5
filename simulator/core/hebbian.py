"""Shared pieces of the Hebbian rules: which layer they train, its input for a sample, and its patches.

A Hebbian rule trains one layer from what that layer sees.  On a dense layer it sees
the whole input once per sample; on a conv layer its kernels are shared over positions,
so each output position shows the filter bank one patch of the input (C_IN·KH·KW values,
zero-padded at the borders), in scan order: the rule's update runs once per patch with
the kernels as its units.  The same equation thus learns local features, as in SoftHebb
(Journé et al. 2023) and Miconi (2021).

State of a Hebbian rule: the forward buffers of the layers below (z, a), a patch buffer
(conv layers only), whatever the rule keeps, and the trained layer's outputs y at the end.
"""

from __future__ import annotations

from numba import njit

from rulelab.core import kernels as K
from rulelab.core.conv import valid_range  # noqa: F401  (re-exported for rules)
from rulelab.core.network import Network
from rulelab.rule import Field, HyperParameters

# The layer kinds a Hebbian rule can train (layers below it run forward as fixed features).
HEBBIAN_KINDS = ("dense", "conv1d", "conv2d")


class HebbianParams(HyperParameters):
    lr: float = Field(0.01, gt=0, description="learning rate η")
    layer: int = Field(0, ge=0, description="the layer this rule trains (0: the first)")


@njit(cache=True, inline="always")
def layer_input(params, layout, act_args, state, x, layer):
    """The input of ``layer`` for sample x (earlier layers run forward into ``state`` buffers)."""
    if layer == 0:
        return x
    last = layout.shape[0] - 1
    n_units = layout[last, K.A_OFF] + layout[last, K.N_OUT]
    return K.forward_to(params, layout, act_args, x, state[:n_units], state[n_units:2 * n_units], layer)


@njit(cache=True, inline="always")
def n_patches(layout, layer):
    """Presentations per sample: 1 for a dense layer, one per output position for a conv layer."""
    if layout[layer, K.KIND] == K.CONV:
        return layout[layer, K.H_OUT] * layout[layer, K.W_OUT]
    return 1


@njit(cache=True, inline="always")
def n_filters(layout, layer):
    """The units that compete for a presentation: a dense layer's outputs, a conv layer's kernels."""
    if layout[layer, K.KIND] == K.CONV:
        return layout[layer, K.C_OUT]
    return layout[layer, K.N_OUT]


@njit(cache=True, inline="always")
def patch_buffer(layout, state):
    """The slot after the forward buffers where a conv layer's patches are copied (empty otherwise)."""
    last = layout.shape[0] - 1
    start = 2 * (layout[last, K.A_OFF] + layout[last, K.N_OUT])
    size = 0
    for layer in range(layout.shape[0]):
        if layout[layer, K.KIND] == K.CONV:
            size = max(size, K.kernel_size(layout, layer))
    return state[start:start + size]


@njit(cache=True, fastmath=K.FAST, inline="always")
def patch(layout, layer, x, p, buf):
    """What presentation p shows the layer: x itself (dense), or the patch x[c, r·SH + i − PH, q·SW + j − PW]
    (zero outside) at output position p = r·W_OUT + q (conv), copied into ``buf``."""
    if layout[layer, K.KIND] != K.CONV:
        return x
    g = layout[layer]
    hin, win, wout = g[K.H_IN], g[K.W_IN], g[K.W_OUT]
    kh, kw = g[K.KH], g[K.KW]
    y0 = (p // wout) * g[K.SH] - g[K.PH]
    x0 = (p % wout) * g[K.SW] - g[K.PW]
    v = buf[:K.kernel_size(layout, layer)]
    for c in range(g[K.C_IN]):
        for i in range(kh):
            y = y0 + i
            for j in range(kw):
                xx = x0 + j
                inside = 0 <= y < hin and 0 <= xx < win
                v[(c * kh + i) * kw + j] = x[(c * hin + y) * win + xx] if inside else 0.0
    return v


@njit(cache=True, fastmath=K.FAST, inline="always")
def layer_output(params, layout, act_args, layer, x, y):
    """y = g(W x) for the trained layer (x: the input, or one patch of it) — Hebbian layers use no bias."""
    w_off, n_in = layout[layer, K.W_OFF], K.kernel_size(layout, layer)
    code, slope = layout[layer, K.ACT], act_args[layer]
    for j in range(y.shape[0]):
        y[j] = K.activate_scalar(code, slope, K.row_dot(params, w_off + j * n_in, x))


def patch_size(net: Network, layer: int | None = None) -> int:
    """The patch buffer's length: the largest conv kernel (C_IN·KH·KW) of the net, 0 without conv layers."""
    sizes = [int(K.kernel_size(net.layout, l)) for l in range(net.n_layers) if net.layout[l, K.KIND] == K.CONV]
    return max(sizes, default=0)


def presentation_sizes(net: Network, layer: int) -> tuple[int, int]:
    """(inputs, units) of one presentation to ``layer``: (N_IN, N_OUT) dense, (C_IN·KH·KW, C_OUT) conv."""
    return int(K.kernel_size(net.layout, layer)), int(n_filters(net.layout, layer))


def hebbian_state_size(net: Network) -> int:
    # Forward buffers (z, a) for the layers below, the patch buffer, then one slot per output of any layer.
    return 2 * net.n_units + patch_size(net) + max(net.sizes[1:])


def check_layer(rule_name: str, layer: int, net: Network) -> str | None:
    if layer >= net.n_layers:
        return f"{rule_name}: layer {layer} does not exist; the network has {net.n_layers} layers"
    return None


class HebbianRule:
    """Mixin for rules that train one chosen layer (``params.layer``) from its input alone."""

    layer_kinds = HEBBIAN_KINDS

    def trained_layers(self, net: Network) -> tuple[int, ...]:
        return (self.params.layer,)

    def check_network(self, net: Network) -> str | None:
        return check_layer(self.name, self.params.layer, net)

    def state_size(self, net: Network) -> int:
        return hebbian_state_size(net)

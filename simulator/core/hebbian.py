"""Shared pieces of the Hebbian rules: which layer they train, and its input for a sample."""

from __future__ import annotations

from numba import njit

from rulelab.core import kernels as K
from rulelab.core.network import Network
from rulelab.rule import Field, HyperParameters


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


@njit(cache=True, fastmath=K.FAST, inline="always")
def layer_output(params, layout, act_args, layer, x, y):
    """y = g(W x) for the trained layer — Hebbian layers use no bias."""
    w_off, n_in = layout[layer, K.W_OFF], layout[layer, K.N_IN]
    code, slope = layout[layer, K.ACT], act_args[layer]
    for j in range(y.shape[0]):
        y[j] = K.activate_scalar(code, slope, K.row_dot(params, w_off + j * n_in, x))


def hebbian_state_size(net: Network) -> int:
    # Forward buffers (z, a) for the layers below, then one slot per output of any layer.
    return 2 * net.n_units + max(net.sizes[1:])


def check_layer(rule_name: str, layer: int, net: Network) -> str | None:
    if layer >= net.n_layers:
        return f"{rule_name}: layer {layer} does not exist; the network has {net.n_layers} layers"
    return None


class HebbianRule:
    """Mixin for rules that train one chosen layer (``params.layer``) from its input alone."""

    def trained_layers(self, net: Network) -> tuple[int, ...]:
        return (self.params.layer,)

    def check_network(self, net: Network) -> str | None:
        return check_layer(self.name, self.params.layer, net)

    def state_size(self, net: Network) -> int:
        return hebbian_state_size(net)

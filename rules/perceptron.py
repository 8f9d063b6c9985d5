"""Rosenblatt's perceptron rule: learn from mistakes only, with a threshold output."""

from __future__ import annotations

from numba import njit

from rulelab.core import kernels as K
from rulelab.core.network import Network
from rulelab.rule import Field, HyperParameters, Needs, Rule


class PerceptronParams(HyperParameters):
    lr: float = Field(1.0, gt=0, description="learning rate η")


P = PerceptronParams.slots()  # hp[P.lr], … inside the kernels: positions derived from the class


@njit(cache=True, fastmath=K.FAST)
def perceptron_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """w ← w + η (t − y) x,  y = step(w·x + b)  (Rosenblatt 1958); returns the mistakes made."""
    return _general(params, layout, act_args, state, hp[P.lr], X, Y, lo, hi)


@njit(cache=True, fastmath=K.FAST, **K.NO_REFCOUNT)
def perceptron_online_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """w ← w + η (t − y) x for one row of a single-layer net: the classic rule, kept straight-line."""
    w_off, b_off, n_in, n_out = layout[0, K.W_OFF], layout[0, K.B_OFF], layout[0, K.N_IN], layout[0, K.N_OUT]
    code, at_zero = layout[0, K.ACT], act_args[0]  # step (0/1) or sign (±1), and its value at z = 0
    x = X[lo]
    mistakes = 0.0
    for j in range(n_out):
        net = params[b_off + j] + K.row_dot(params, w_off + j * n_in, x)
        err = Y[lo, j] - K.activate_scalar(code, at_zero, net)
        if err != 0.0:
            mistakes += 1.0
            K.row_add(params, w_off + j * n_in, hp[P.lr] * err, x)
            params[b_off + j] += hp[P.lr] * err
    return mistakes


@njit(cache=True, fastmath=K.FAST, inline="always")
def _general(params, layout, act_args, state, eta, X, Y, lo, hi):
    """Hidden layers as fixed features, and/or a minibatch: corrections accumulated in state
    (after the hidden buffers) with the weights held fixed, then applied (batch perceptron)."""
    out = layout.shape[0] - 1
    w_off, b_off = layout[out, K.W_OFF], layout[out, K.B_OFF]
    n_in, n_out = layout[out, K.N_IN], layout[out, K.N_OUT]
    code, at_zero = layout[out, K.ACT], act_args[out]
    online = hi - lo == 1
    acc = 2 * (layout[out, K.A_OFF] + n_out)
    n = n_out * (n_in + 1)
    if not online:
        for i in range(n):  # element by element: no temporary array per sample
            state[acc + i] = 0.0
    mistakes = 0.0
    for s in range(lo, hi):
        x = K.output_input(params, layout, act_args, X[s], state)
        for j in range(n_out):
            net = params[b_off + j] + K.row_dot(params, w_off + j * n_in, x)
            err = Y[s, j] - K.activate_scalar(code, at_zero, net)
            if err != 0.0:
                mistakes += 1.0
                if online:
                    K.row_add(params, w_off + j * n_in, eta * err, x)
                    params[b_off + j] += eta * err
                else:
                    K.row_add(state, acc + j * n_in, eta * err, x)
                    state[acc + n_out * n_in + j] += eta * err
    if not online:
        for i in range(n):
            params[w_off + i] += state[acc + i]
    return mistakes


class Perceptron(Rule):
    """The perceptron rule on the output layer (earlier layers, if any, act as fixed features)."""

    name = "perceptron"
    family = "error-correcting"
    summary = "Rosenblatt's perceptron: corrects the weights only when the thresholded output is wrong."
    equation = "w ← w + η (t − y) x,  y = step(w·x + b)"
    reference = "Rosenblatt 1958; convergence bound Novikoff 1962"
    needs = Needs(labels=True)
    local = True
    signal = "mistakes"
    converged_when_signal_zero = True
    Params = PerceptronParams
    update = staticmethod(perceptron_update)

    def trained_layers(self, net: Network) -> tuple[int, ...]:
        return (net.n_layers - 1,)

    def kernel(self, net: Network, batch_size: int):
        # The classic case runs once per sample: a kernel with nothing else in it is ~2× faster.
        if net.n_layers == 1 and batch_size == 1:
            return perceptron_online_update
        return perceptron_update

    def check_network(self, net: Network) -> str | None:
        if net.output_activation not in ("step", "sign"):
            return (
                f"the perceptron rule needs a threshold output (step or sign), "
                f"got '{net.output_activation}'"
            )
        return None

    def state_size(self, net: Network) -> int:
        last = net.layout[-1]
        return 2 * net.n_units + int(last[K.N_OUT] * last[K.N_IN] + last[K.N_OUT])

"""The delta rule: Widrow–Hoff LMS for linear units and its single-layer sigmoid form."""

from __future__ import annotations

from numba import njit

from rulelab.core import kernels as K
from rulelab.core.network import Network
from rulelab.rule import Field, HyperParameters, Needs, Rule


class DeltaParams(HyperParameters):
    lr: float = Field(0.1, gt=0, description="learning rate η (α in the notes)")


P = DeltaParams.slots()  # hp[P.lr], … inside the kernels: positions derived from the class


@njit(cache=True, fastmath=K.FAST)
def delta_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """Δ = (t − o)·g′(in),  w ← w + η Δ x  (Widrow & Hoff 1960); returns Σ ½(t − o)²."""
    out = layout.shape[0] - 1
    w_off, b_off = layout[out, K.W_OFF], layout[out, K.B_OFF]
    n_in, n_out = layout[out, K.N_IN], layout[out, K.N_OUT]
    code, slope = layout[out, K.ACT], act_args[out]
    n_units = layout[out, K.A_OFF] + n_out
    z = state[layout[out, K.A_OFF]:n_units]  # the output layer's slice of the z buffer
    o = state[n_units + layout[out, K.A_OFF]:2 * n_units]
    # Online (one row) steps at once; a minibatch averages its updates, accumulated in
    # state after the activation buffers, with the weights held fixed.
    online = hi - lo == 1
    acc = 2 * n_units
    n = n_out * (n_in + 1)
    if not online:
        for i in range(n):  # element by element: no temporary array per sample
            state[acc + i] = 0.0
    scale = hp[P.lr] / (hi - lo)
    sse = 0.0
    for s in range(lo, hi):
        x = K.output_input(params, layout, act_args, X[s], state)
        K.layer_forward(params, layout, act_args, out, x, z, o)
        for j in range(n_out):
            err = Y[s, j] - o[j]
            sse += 0.5 * err * err
            # Softmax outputs take Δ = t − o, the delta of softmax with cross-entropy.
            g = 1.0 if code == K.SOFTMAX else K.derivative_scalar(code, slope, z[j], o[j])
            step = scale * err * g
            if online:
                K.row_add(params, w_off + j * n_in, step, x)
                params[b_off + j] += step
            else:
                K.row_add(state, acc + j * n_in, step, x)
                state[acc + n_out * n_in + j] += step
    if not online:
        for i in range(n):
            params[w_off + i] += state[acc + i]
    return sse


class Delta(Rule):
    """The delta rule on the output layer (earlier layers, if any, act as fixed features)."""

    name = "delta"
    family = "error-correcting"
    summary = "Widrow–Hoff LMS / single-layer delta rule: gradient descent on ½(t − o)² of the output layer."
    equation = "w ← w + η (t − o) g′(in) x"
    reference = "Widrow & Hoff 1960"
    needs = Needs(labels=True, differentiable=True)
    local = True
    signal = "sse"
    Params = DeltaParams
    update = staticmethod(delta_update)

    def trained_layers(self, net: Network) -> tuple[int, ...]:
        return (net.n_layers - 1,)

    def state_size(self, net: Network) -> int:
        last = net.layout[-1]
        return 2 * net.n_units + int(last[K.N_OUT] * last[K.N_IN] + last[K.N_OUT])

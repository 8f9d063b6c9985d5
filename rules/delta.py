"""The delta rule: Widrow–Hoff LMS for linear units and its single-layer sigmoid form."""

from __future__ import annotations

from numba import njit

from simulator import kernels as K
from simulator.network import Network
from simulator.rule import Field, HyperParameters, Needs, Rule


class DeltaParams(HyperParameters):
    lr: float = Field(0.1, gt=0, description="learning rate η (α in the notes)")


@njit(cache=True)
def delta_update(params, layout, act_args, state, hp, X, Y):
    """Δ = (t − o)·g′(in),  w ← w + η Δ x  (Widrow & Hoff 1960); returns Σ ½(t − o)²."""
    out = layout.shape[0] - 1
    n_units = layout[out, K.A_OFF] + layout[out, K.N_OUT]
    z_buf = state[:n_units]
    a_buf = state[n_units:2 * n_units]
    w = K.weights(params, layout, out)
    b = K.bias(params, layout, out)
    n_out, n_in = w.shape
    code = layout[out, K.ACT]
    slope = act_args[out]
    eta = hp[0]
    online = X.shape[0] == 1
    dw = K.weights(state[2 * n_units:], layout, out) if not online else w
    db = K.bias(state[2 * n_units:], layout, out) if not online else b
    if not online:
        dw[:, :] = 0.0
        db[:] = 0.0
    scale = eta / X.shape[0]
    z = K.layer_buffer(z_buf, layout, out)
    o = K.layer_buffer(a_buf, layout, out)
    sse = 0.0
    for s in range(X.shape[0]):
        x = K.forward_to(params, layout, act_args, X[s], z_buf, a_buf, out)
        K.layer_forward(params, layout, act_args, out, x, z, o)
        for j in range(n_out):
            err = Y[s, j] - o[j]
            sse += 0.5 * err * err
            # Softmax outputs take Δ = t − o, the delta of softmax with cross-entropy.
            g = 1.0 if code == K.SOFTMAX else K.derivative_scalar(code, slope, z[j], o[j])
            step = scale * err * g
            for i in range(n_in):
                dw[j, i] += step * x[i]
            db[j] += step
    if not online:
        w += dw
        b += db
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

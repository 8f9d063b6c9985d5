"""Rosenblatt's perceptron rule: learn from mistakes only, with a threshold output."""

from __future__ import annotations

from numba import njit

from simulator import kernels as K
from simulator.network import Network
from simulator.rule import Field, HyperParameters, Needs, Rule


class PerceptronParams(HyperParameters):
    lr: float = Field(1.0, gt=0, description="learning rate η")


@njit(cache=True)
def perceptron_update(params, layout, act_args, state, hp, X, Y):
    """w ← w + η (t − y) x,  y = step(w·x + b)  (Rosenblatt 1958); returns the mistakes made."""
    out = layout.shape[0] - 1
    n_units = layout[out, K.A_OFF] + layout[out, K.N_OUT]
    z_buf = state[:n_units]
    a_buf = state[n_units:2 * n_units]
    w = K.weights(params, layout, out)
    b = K.bias(params, layout, out)
    n_out, n_in = w.shape
    code = layout[out, K.ACT]
    eta = hp[0]
    # A minibatch accumulates its corrections with the weights held fixed (batch perceptron).
    online = X.shape[0] == 1
    dw = K.weights(state[2 * n_units:], layout, out) if not online else w
    db = K.bias(state[2 * n_units:], layout, out) if not online else b
    if not online:
        dw[:, :] = 0.0
        db[:] = 0.0
    mistakes = 0.0
    for s in range(X.shape[0]):
        x = K.forward_to(params, layout, act_args, X[s], z_buf, a_buf, out)
        for j in range(n_out):
            net = b[j]
            for i in range(n_in):
                net += w[j, i] * x[i]
            err = Y[s, j] - K.activate_scalar(code, 0.0, net)
            if err != 0.0:
                mistakes += 1.0
                step = eta * err
                for i in range(n_in):
                    dw[j, i] += step * x[i]
                db[j] += step
    if not online:
        w += dw
        b += db
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

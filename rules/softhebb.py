"""Soft winner-take-all Hebbian learning, in the spirit of SoftHebb (Journé, Rodriguez, Guo & Moraitis 2023)."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import hebbian as H
from rulelab.core import kernels as K
from rulelab.rule import Field, Needs, Rule


class SoftHebbParams(H.HebbianParams):
    temperature: float = Field(1.0, gt=0, description="τ of the soft winner-take-all y = softmax(u / τ): "
                                                        "small τ approaches hard winner-take-all")


P = SoftHebbParams.slots()  # hp[P.lr], … inside the kernels: positions derived from the class


@njit(cache=True, fastmath=K.FAST)
def softhebb_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """u = W x,  y = softmax(u / τ),  Δw_k = η y_k (x − u_k w_k)  (Journé et al. 2023); x: each patch on a conv
    layer; returns Σ_k y_k u_k."""
    eta, layer, tau = hp[P.lr], np.int64(hp[P.layer]), hp[P.temperature]
    w_off, n_in, n_out = layout[layer, K.W_OFF], K.kernel_size(layout, layer), H.n_filters(layout, layer)
    y = state[state.shape[0] - n_out:]
    u = state[state.shape[0] - 2 * n_out:state.shape[0] - n_out]
    buf = H.patch_buffer(layout, state)
    response = 0.0
    for s in range(lo, hi):
        sample = H.layer_input(params, layout, act_args, state, X[s], layer)
        for p in range(H.n_patches(layout, layer)):
            x = H.patch(layout, layer, sample, p, buf)
            for k in range(n_out):
                u[k] = K.row_dot(params, w_off + k * n_in, x)
                y[k] = u[k] / tau
            K.softmax_into(y, y)
            for k in range(n_out):
                w = params[w_off + k * n_in:w_off + (k + 1) * n_in]
                rate = eta * y[k]
                for i in range(n_in):  # Oja's decay term, gated by the soft win: ‖w_k‖ → 1
                    w[i] += rate * (x[i] - u[k] * w[i])
                response += y[k] * u[k]
    return response


class SoftHebb(H.HebbianRule, Rule):
    name = "softhebb"
    family = "hebbian"
    summary = ("Soft winner-take-all: every unit learns in proportion to its softmax share of the input, "
               "with Oja's decay; on conv layers, patch by patch.")
    equation = "Δw_k = η y_k (x − u_k w_k),  u = W x,  y = softmax(u / τ)"
    reference = "Journé, Rodriguez, Guo & Moraitis 2023"
    needs = Needs()
    local = False  # the softmax normalises over the units competing for the input
    signal = "soft_winner_response"
    Params = SoftHebbParams
    update = staticmethod(softhebb_update)

    def state_size(self, net) -> int:
        # Forward buffers, the patch buffer, the responses u, and the soft wins y.
        return H.hebbian_state_size(net) + max(net.sizes[1:])

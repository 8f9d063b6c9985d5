"""Oja's rule: a Hebbian unit that normalises itself and finds the first principal component."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import hebbian as H
from rulelab.core import kernels as K
from rulelab.rule import Needs, Rule


class OjaParams(H.HebbianParams):
    pass


P = OjaParams.slots()  # hp[P.lr], … inside the kernels: positions derived from the class


@njit(cache=True, fastmath=K.FAST)
def oja_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """Δw = η y (x − y w)  (Oja 1982): each unit tends to the unit-length first principal component
    (of the patches, on a conv layer)."""
    eta, layer = hp[P.lr], np.int64(hp[P.layer])
    w_off, n_in, n_out = layout[layer, K.W_OFF], K.kernel_size(layout, layer), H.n_filters(layout, layer)
    y = state[state.shape[0] - n_out:]
    buf = H.patch_buffer(layout, state)
    energy = 0.0
    for s in range(lo, hi):
        sample = H.layer_input(params, layout, act_args, state, X[s], layer)
        for p in range(H.n_patches(layout, layer)):
            x = H.patch(layout, layer, sample, p, buf)
            H.layer_output(params, layout, act_args, layer, x, y)
            for j in range(n_out):
                w = params[w_off + j * n_in:w_off + (j + 1) * n_in]
                for i in range(n_in):
                    w[i] += eta * y[j] * (x[i] - y[j] * w[i])
                energy += y[j] * y[j]
    return energy


class Oja(H.HebbianRule, Rule):
    name = "oja"
    family = "hebbian"
    summary = "Hebbian learning with a built-in decay that keeps ‖w‖ = 1: one unit learns the first PC."
    equation = "Δw = η y (x − y w)"
    reference = "Oja 1982"
    needs = Needs()
    local = True
    signal = "output_energy"
    Params = OjaParams
    update = staticmethod(oja_update)

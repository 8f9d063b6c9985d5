"""Competitive (winner-take-all) learning: each unit becomes the prototype of the inputs it wins."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import hebbian as H
from rulelab.core import kernels as K
from rulelab.rule import Field, Needs, Rule


class CompetitiveParams(H.HebbianParams):
    leak: float = Field(0.0, ge=0, le=1, description="losers move by η·leak towards the input (no dead units)")


P = CompetitiveParams.slots()  # hp[P.lr], … inside the kernels: positions derived from the class


@njit(cache=True, fastmath=K.FAST)
def competitive_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """j* = argmin_j ‖x − w_j‖,  Δw_{j*} = η (x − w_{j*}), losers Δw_j = η·leak (x − w_j)
    (Rumelhart & Zipser 1985); on a conv layer x is each patch in turn; returns Σ ‖x − w_{j*}‖²."""
    eta, layer, leak = hp[P.lr], np.int64(hp[P.layer]), hp[P.leak]
    w_off, n_in, n_out = layout[layer, K.W_OFF], K.kernel_size(layout, layer), H.n_filters(layout, layer)
    buf = H.patch_buffer(layout, state)
    error = 0.0
    for s in range(lo, hi):
        sample = H.layer_input(params, layout, act_args, state, X[s], layer)
        for p in range(H.n_patches(layout, layer)):
            x = H.patch(layout, layer, sample, p, buf)
            best, best_d = 0, np.inf
            for j in range(n_out):
                d = 0.0
                for i in range(n_in):
                    diff = x[i] - params[w_off + j * n_in + i]
                    d += diff * diff
                if d < best_d:
                    best, best_d = j, d
            for j in range(n_out):
                rate = eta if j == best else eta * leak
                if rate == 0.0:
                    continue
                w = params[w_off + j * n_in:w_off + (j + 1) * n_in]
                for i in range(n_in):
                    w[i] += rate * (x[i] - w[i])
            error += best_d
    return error


class Competitive(H.HebbianRule, Rule):
    name = "competitive"
    family = "hebbian"
    summary = "The unit closest to the input wins and moves towards it: prototypes, receptive fields."
    equation = "Δw_{j*} = η (x − w_{j*}),  j* = argmin_j ‖x − w_j‖  (losers: η·leak; conv: per patch)"
    reference = "Rumelhart & Zipser 1985"
    needs = Needs()
    local = True
    signal = "quantization_error"
    Params = CompetitiveParams
    update = staticmethod(competitive_update)

"""Plain Hebbian learning: "fire together, wire together", with the usual ways to bound it."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit

from rulelab.core import hebbian as H
from rulelab.core import kernels as K
from rulelab.rule import Field, Needs, Rule


class HebbParams(H.HebbianParams):
    decay: float = Field(0.0, ge=0, description="weight decay λ: Δw = η (y x − λ w)")
    bound: Literal["none", "normalize"] = Field(
        "none", description="normalize: rescale each unit's weights to unit length after every update")


P = HebbParams.slots()  # hp[P.lr], … inside the kernels: positions derived from the class
NORMALIZE = HebbParams.code("bound", "normalize")


@njit(cache=True, fastmath=K.FAST)
def hebb_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """Δw_ij = η (y_i x_j − λ w_ij)  (Hebb 1949), optionally w_i ← w_i / ‖w_i‖; x: each patch on a conv layer;
    returns Σ y²."""
    eta, layer, decay, normalize = hp[P.lr], np.int64(hp[P.layer]), hp[P.decay], hp[P.bound] == NORMALIZE
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
                    w[i] += eta * (y[j] * x[i] - decay * w[i])
                if normalize:
                    norm = np.sqrt(K.row_dot(params, w_off + j * n_in, w))
                    if norm > 0.0:
                        for i in range(n_in):
                            w[i] /= norm
                energy += y[j] * y[j]
    return energy


class Hebb(H.HebbianRule, Rule):
    name = "hebb"
    family = "hebbian"
    summary = "Strengthen a weight whenever its input and output are active together; unbounded unless told."
    equation = "Δw = η (y x − λ w)"
    reference = "Hebb 1949"
    needs = Needs()
    local = True
    signal = "output_energy"
    Params = HebbParams
    update = staticmethod(hebb_update)

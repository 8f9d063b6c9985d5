"""Sanger's generalised Hebbian algorithm: k units learn the top-k principal components, in order."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import hebbian as H
from rulelab.core import kernels as K
from rulelab.core.network import Network
from rulelab.rule import Needs, Rule


class SangerParams(H.HebbianParams):
    pass


P = SangerParams.slots()  # hp[P.lr], … inside the kernels: positions derived from the class


@njit(cache=True, fastmath=K.FAST)
def sanger_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """Δw_j = η y_j (x − Σ_{k≤j} y_k w_k)  (Sanger 1989): unit j tends to the j-th principal component
    (of the patches, on a conv layer)."""
    eta, layer = hp[P.lr], np.int64(hp[P.layer])
    w_off, n_in, n_out = layout[layer, K.W_OFF], K.kernel_size(layout, layer), H.n_filters(layout, layer)
    y = state[state.shape[0] - n_out:]
    buf = H.patch_buffer(layout, state)
    # The residual x − Σ_{k<j} y_k w_k, built up unit by unit (old weights: computed before updating w_j).
    residual = state[2 * (layout[layout.shape[0] - 1, K.A_OFF] + layout[layout.shape[0] - 1, K.N_OUT])
                     + buf.shape[0]:state.shape[0] - n_out]
    energy = 0.0
    for s in range(lo, hi):
        sample = H.layer_input(params, layout, act_args, state, X[s], layer)
        for p in range(H.n_patches(layout, layer)):
            x = H.patch(layout, layer, sample, p, buf)
            H.layer_output(params, layout, act_args, layer, x, y)
            for i in range(n_in):
                residual[i] = x[i]
            for j in range(n_out):
                w = params[w_off + j * n_in:w_off + (j + 1) * n_in]
                for i in range(n_in):
                    residual[i] -= y[j] * w[i]
                for i in range(n_in):
                    w[i] += eta * y[j] * residual[i]
                energy += y[j] * y[j]
    return energy


class Sanger(H.HebbianRule, Rule):
    name = "sanger"
    family = "hebbian"
    summary = "Oja's rule with each unit also removing what the units before it explain: ordered PCA."
    equation = "Δw_j = η y_j (x − Σ_{k≤j} y_k w_k)"
    reference = "Sanger 1989"
    needs = Needs()
    local = False  # unit j needs the outputs of units 1 … j
    signal = "output_energy"
    Params = SangerParams
    update = staticmethod(sanger_update)

    def state_size(self, net: Network) -> int:
        # Forward buffers, the patch buffer, a residual of one presentation's size, and the outputs.
        n_in, n_out = H.presentation_sizes(net, self.params.layer)
        return 2 * net.n_units + H.patch_size(net) + n_in + n_out

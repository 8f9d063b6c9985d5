"""The BCM rule (Bienenstock, Cooper & Munro 1982): Hebbian with a sliding modification threshold.

The walk-through in docs/writing-a-rule.md builds this file step by step.
"""

from numba import njit

from rulelab.core import kernels as K
from rulelab.core.network import Network
from rulelab.rule import Field, HyperParameters, Needs, Rule


class BCMParams(HyperParameters):
    lr: float = Field(0.001, gt=0, description="learning rate η")
    tau: float = Field(100.0, ge=1, description="time constant of the threshold, in samples")


P = BCMParams.slots()  # hp[P.lr], … inside the kernel: positions derived from the class


@njit(cache=True, fastmath=K.FAST)
def bcm_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """Δw = η y (y − θ) x,  θ ← θ + (y² − θ)/τ  (Bienenstock, Cooper & Munro 1982); returns Σ y²."""
    eta, tau = hp[P.lr], hp[P.tau]
    w_off, n_in, n_out = layout[0, K.W_OFF], layout[0, K.N_IN], layout[0, K.N_OUT]
    theta = state[:n_out]  # one sliding threshold per unit, kept between calls
    energy = 0.0
    for s in range(lo, hi):
        x = X[s]
        for j in range(n_out):
            y = K.row_dot(params, w_off + j * n_in, x)
            K.row_add(params, w_off + j * n_in, eta * y * (y - theta[j]), x)
            theta[j] += (y * y - theta[j]) / tau
            energy += y * y
    return energy


class BCM(Rule):
    name = "bcm"
    family = "hebbian"
    summary = "Potentiate when the output beats a threshold that tracks ⟨y²⟩, depress below it."
    equation = "Δw = η y (y − θ) x,  θ ← θ + (y² − θ)/τ"
    reference = "Bienenstock, Cooper & Munro 1982"
    needs = Needs()
    local = True
    signal = "output_energy"
    Params = BCMParams
    update = staticmethod(bcm_update)

    def trained_layers(self, net: Network) -> tuple[int, ...]:
        return (0,)

    def state_size(self, net: Network) -> int:
        return net.sizes[1]  # θ for each unit of the trained layer

    def init_state(self, net: Network, rng):
        import numpy as np

        return np.ones(self.state_size(net), dtype=net.np_dtype)  # θ starts at 1

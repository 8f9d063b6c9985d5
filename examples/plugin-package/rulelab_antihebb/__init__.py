"""An anti-Hebbian rule as an installable rulelab plug-in.

With its weights kept at unit length, a unit that *weakens* co-active connections
turns to the direction of least variance: the last principal component (minor
component analysis) — the mirror image of Oja's rule.
"""

from numba import njit

from rulelab.core import kernels as K
from rulelab.core.network import Network
from rulelab.rule import Field, HyperParameters, Needs, Rule


class AntiHebbianParams(HyperParameters):
    lr: float = Field(0.002, gt=0, description="learning rate η")


@njit(cache=True, fastmath=K.FAST)
def anti_hebbian_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """Δw = −η y x,  w ← w / ‖w‖  (anti-Hebbian, normalised: the minor component); returns Σ y²."""
    w_off, n_in, n_out = layout[0, K.W_OFF], layout[0, K.N_IN], layout[0, K.N_OUT]
    energy = 0.0
    for s in range(lo, hi):
        x = X[s]
        for j in range(n_out):
            y = K.row_dot(params, w_off + j * n_in, x)
            K.row_add(params, w_off + j * n_in, -hp[0] * y, x)
            w = params[w_off + j * n_in:w_off + (j + 1) * n_in]
            w /= max(np_sqrt(K.row_dot(params, w_off + j * n_in, w)), 1e-12)
            energy += y * y
    return energy


@njit(cache=True)
def np_sqrt(v):
    return v ** 0.5


class AntiHebbian(Rule):
    name = "anti_hebbian"
    family = "hebbian"
    summary = "Weaken co-active connections at unit weight length: finds the direction of least variance."
    equation = "Δw = −η y x,  w ← w/‖w‖"
    reference = "Oja 1992 (minor components)"
    needs = Needs()
    local = True
    signal = "output_energy"
    Params = AntiHebbianParams
    update = staticmethod(anti_hebbian_update)

    def trained_layers(self, net: Network) -> tuple[int, ...]:
        return (0,)

"""A complete example plug-in rule: the perceptron with a margin.

Run it with:  rulelab run docs/examples/margin.yaml
(the scenario names this file under ``plugins:``), or add ``--plugin
docs/examples/margin_perceptron.py`` to any command.
"""

from numba import njit

from rulelab.core import kernels as K
from rulelab.core.network import Network
from rulelab.rule import Field, HyperParameters, Needs, Rule


class MarginParams(HyperParameters):
    lr: float = Field(0.1, gt=0, description="learning rate η")
    margin: float = Field(0.5, ge=0, description="update unless t̃·(w·x + b) > margin")


P = MarginParams.slots()  # hp[P.lr], … inside the kernel: positions derived from the class


@njit(cache=True, fastmath=K.FAST)
def margin_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """w ← w + η t̃ x  whenever  t̃ (w·x + b) ≤ κ,  with t̃ = ±1  (perceptron of optimal stability, Krauth & Mézard 1987)."""
    out = layout.shape[0] - 1
    w = K.weights(params, layout, out)
    b = K.bias(params, layout, out)
    eta, kappa = hp[P.lr], hp[P.margin]
    updates = 0.0
    for s in range(lo, hi):
        x = X[s]
        for j in range(w.shape[0]):
            net = b[j]
            for i in range(w.shape[1]):
                net += w[j, i] * x[i]
            # Targets are 0/1 for a step output and ±1 for a sign output; map both to ±1.
            t = 1.0 if Y[s, j] > 0.0 else -1.0
            if t * net <= kappa:
                updates += 1.0
                for i in range(w.shape[1]):
                    w[j, i] += eta * t * x[i]
                b[j] += eta * t
    return updates


class MarginPerceptron(Rule):
    name = "margin-perceptron"
    family = "error-correcting"
    summary = "A perceptron that keeps updating until every sample clears a margin κ."
    equation = "w ← w + η t x  if  t (w·x + b) ≤ κ"
    reference = "Krauth & Mézard 1987"
    needs = Needs(labels=True)
    local = True
    signal = "updates"
    converged_when_signal_zero = True
    Params = MarginParams
    update = staticmethod(margin_update)

    def trained_layers(self, net: Network) -> tuple[int, ...]:
        return (net.n_layers - 1,)

    def check_network(self, net: Network) -> str | None:
        if net.n_layers != 1 or net.output_activation not in ("step", "sign"):
            return "margin-perceptron trains a single layer with a step or sign output"
        return None

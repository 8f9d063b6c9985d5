"""Population (zeroth-order) learning: the compiled, parallel fitness of many parameter vectors.

A population rule (evolution strategies) only ever sees parameter vectors and
their fitness.  Its per-generation vector maths (``ask``/``tell``) is NumPy;
the expensive part — a forward pass of every member over a minibatch — is one
compiled kernel, parallel over members.  Each member's fitness is summed by one
thread in a fixed order, so results are identical whatever the thread count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numba import njit, prange

from simulator import kernels as K
from simulator.gradient import _activate_rows
from simulator.rule import Needs, Rule

FITNESS_LOSS = 0
FITNESS_ACCURACY = 1


@njit(cache=True)
def _member_fitness(params, layout, act_args, X, T, labels, loss_code, threshold, fitness_code):
    """Fitness of one parameter vector on (X, T): −mean loss, or accuracy. Forward pass by BLAS."""
    inp = X
    for l in range(layout.shape[0]):
        Z = np.dot(inp, K.weights(params, layout, l).T)
        b = K.bias(params, layout, l)
        for r in range(Z.shape[0]):
            for j in range(b.shape[0]):
                Z[r, j] += b[j]
        A = np.empty_like(Z)
        _activate_rows(layout[l, K.ACT], act_args[l], Z, A)
        inp = A
    out_code = layout[layout.shape[0] - 1, K.ACT]
    total = 0.0
    for r in range(X.shape[0]):
        if fitness_code == FITNESS_ACCURACY:
            if K.predict_class(inp[r], threshold) == labels[r]:
                total += 1.0
        else:
            total -= K.sample_loss(loss_code, inp[r], T[r], out_code)
    return total / X.shape[0]


@njit(cache=True, parallel=True)
def population_fitness(population, layout, act_args, X, T, labels, loss_code, threshold, fitness_code, out):
    """out[i] = fitness of population[i] on (X, T), members evaluated in parallel."""
    for i in prange(population.shape[0]):
        out[i] = _member_fitness(population[i], layout, act_args, X, T, labels, loss_code, threshold,
                                 fitness_code)


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """Fitness shaping of Salimans et al. (2017): ranks mapped linearly onto [−0.5, 0.5].

    NaN fitness counts as the worst (it ranks below every number); equal fitness, equal rank.
    """
    from scipy.stats import rankdata

    f = np.where(np.isnan(fitness), -np.inf, fitness)
    ranks = rankdata(f, method="average") - 1.0  # ties (common with accuracy) share their mean rank
    return ranks / max(len(f) - 1, 1) - 0.5


@dataclass
class ESState:
    """What every strategy keeps between generations; strategies add their own fields in ``extra``."""

    mean: np.ndarray
    sigma: float
    generation: int = 0
    extra: dict[str, Any] | None = None


class PopulationRule(Rule):
    """Base class of zeroth-order rules: they move the whole parameter vector using a fitness only.

    Subclasses implement :meth:`start`, :meth:`ask` and :meth:`tell`; higher
    fitness is better.  The runner evaluates each generation's members in
    parallel (:func:`population_fitness`) and counts one forward pass per sample
    per member.
    """

    kind: ClassVar[str] = "population"
    family: ClassVar[str] = "evolutionary"
    needs: ClassVar[Needs] = Needs(fitness_only=True)
    local: ClassVar[bool] = False
    signal: ClassVar[str] = "fitness_best"
    supports_tied_weights: ClassVar[bool] = False

    def check_network(self, net) -> str | None:
        return None  # any activation: no derivative is ever taken

    def start(self, theta: np.ndarray, rng: np.random.Generator) -> ESState:
        return ESState(theta.astype(np.float64).copy(), float(self.params.sigma))

    def ask(self, state: ESState, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def tell(self, state: ESState, population: np.ndarray, fitness: np.ndarray) -> None:
        raise NotImplementedError

    def solution(self, state: ESState) -> np.ndarray:
        """The parameters the strategy currently stands for (evaluated and saved each epoch)."""
        return state.mean


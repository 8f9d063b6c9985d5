"""The (1+1)-ES with Rechenberg's 1/5th success rule for its step size."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core.population import S_GENERATION, S_MEAN, S_SIGMA, ESParams, PopulationRule
from rulelab.rule import Field


class OnePlusOneParams(ESParams):
    reevaluate: bool = Field(True, description="evaluate the parent again with each child (noisy or minibatch "
                                               "fitness); false: keep its fitness, one evaluation per generation "
                                               "(deterministic objectives, the textbook (1+1)-ES)")


P = OnePlusOneParams.slots()


@njit(cache=True)
def one_plus_one_ask(state, hp, noise, noise64, population):
    """Child x' = x + σ z; with reevaluation the parent x as well (row 0), on the same minibatch.
    Without it, the first generation evaluates the parent x itself, once."""
    n = population.shape[1]
    if hp[P.reevaluate] != 0.0:
        for j in range(n):
            population[0, j] = state[S_MEAN + j]
            population[1, j] = state[S_MEAN + j] + state[S_SIGMA] * noise64[0, j]
        return
    first = np.isnan(state[S_MEAN + n])  # the parent's fitness is not known yet
    for j in range(n):
        population[0, j] = state[S_MEAN + j] + (0.0 if first else state[S_SIGMA] * noise64[0, j])


@njit(cache=True)
def one_plus_one_tell(state, hp, population, noise, noise64, fitness):
    """Keep x' if F(x') ≥ F(x);  σ ← σ·exp((1[success] − 1/5)/√(n+1))  (Rechenberg's 1/5th rule)."""
    n = population.shape[1]
    if hp[P.reevaluate] != 0.0:
        parent, child = fitness[0], fitness[1]
    else:
        parent, child = state[S_MEAN + n], fitness[0]
        if np.isnan(parent):  # generation 1 evaluated the parent: remember it, move nothing
            state[S_MEAN + n] = -np.inf if np.isnan(child) else child
            state[S_GENERATION] += 1.0
            return
    success = not np.isnan(child) and (np.isnan(parent) or child >= parent)
    if success:
        for j in range(n):
            state[S_MEAN + j] = population[population.shape[0] - 1, j]
        if hp[P.reevaluate] == 0.0:
            state[S_MEAN + n] = child
    state[S_SIGMA] *= np.exp(((1.0 if success else 0.0) - 0.2) / np.sqrt(n + 1.0))
    state[S_GENERATION] += 1.0


class OnePlusOneES(PopulationRule):
    name = "one_plus_one_es"
    summary = "One parent, one mutant; keep the better; σ grows on success and shrinks on failure."
    equation = "x' = x + σ z,  keep x' if F(x') ≥ F(x),  σ ← σ·exp((1[success] − 1/5)/√(n+1))"
    reference = "Rechenberg 1973; Kern et al. 2004"
    Params = OnePlusOneParams
    ask_kernel = staticmethod(one_plus_one_ask)
    tell_kernel = staticmethod(one_plus_one_tell)

    def population_size(self, n: int) -> int:
        return 2 if self.params.reevaluate else 1

    def noise_rows(self, n: int) -> int:
        return 1

    def extra_state_size(self, n: int) -> int:
        return 0 if self.params.reevaluate else 1  # the parent's fitness (NaN until evaluated)

    def initial_state(self, theta: np.ndarray) -> np.ndarray:
        state = super().initial_state(theta)
        if not self.params.reevaluate:
            state[S_MEAN + theta.size] = np.nan
        return state

    def for_deterministic_fitness(self, params: OnePlusOneParams) -> OnePlusOneParams:
        """On a deterministic objective the parent's fitness is kept, unless the scenario says otherwise."""
        if "reevaluate" in params.model_fields_set:
            return params
        return params.model_copy(update={"reevaluate": False})

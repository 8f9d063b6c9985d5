"""The (1+1)-ES with Rechenberg's 1/5th success rule for its step size."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core.population import S_GENERATION, S_MEAN, S_SIGMA, PopulationRule


@njit(cache=True)
def one_plus_one_ask(state, hp, noise, noise64, population):
    """Parent x and child x' = x + σ z: the parent is re-evaluated with its child on the same minibatch."""
    n = population.shape[1]
    for j in range(n):
        population[0, j] = state[S_MEAN + j]
        population[1, j] = state[S_MEAN + j] + state[S_SIGMA] * noise64[0, j]


@njit(cache=True)
def one_plus_one_tell(state, hp, population, noise, noise64, fitness):
    """Keep x' if F(x') ≥ F(x);  σ ← σ·exp((1[success] − 1/5)/√(n+1))  (Rechenberg's 1/5th rule)."""
    n = population.shape[1]
    parent, child = fitness[0], fitness[1]
    success = not np.isnan(child) and (np.isnan(parent) or child >= parent)
    if success:
        for j in range(n):
            state[S_MEAN + j] = population[1, j]
    state[S_SIGMA] *= np.exp(((1.0 if success else 0.0) - 0.2) / np.sqrt(n + 1.0))
    state[S_GENERATION] += 1.0


class OnePlusOneES(PopulationRule):
    name = "one_plus_one_es"
    summary = "One parent, one mutant; keep the better; σ grows on success and shrinks on failure."
    equation = "x' = x + σ z,  keep x' if F(x') ≥ F(x),  σ ← σ·exp((1[success] − 1/5)/√(n+1))"
    reference = "Rechenberg 1973; Kern et al. 2004"
    ask_kernel = staticmethod(one_plus_one_ask)
    tell_kernel = staticmethod(one_plus_one_tell)

    def population_size(self, n: int) -> int:
        return 2

    def noise_rows(self, n: int) -> int:
        return 1

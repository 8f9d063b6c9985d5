"""The (μ/μ_I, λ)-ES: intermediate recombination of the μ best of λ, cumulative step-size adaptation."""

from __future__ import annotations

import numpy as np
from numba import njit
from pydantic import model_validator

from rulelab.core.population import S_GENERATION, S_MEAN, S_SIGMA, ESParams, PopulationRule
from rulelab.rule import Field


class MuLambdaParams(ESParams):
    population: int = Field(20, ge=2, description="λ, offspring per generation")
    parents: int = Field(5, ge=1, description="μ, the best offspring recombined into the next mean")

    @model_validator(mode="after")
    def _fewer_parents(self) -> "MuLambdaParams":
        if self.parents >= self.population:
            raise ValueError(f"parents (μ = {self.parents}) must be fewer than population (λ = {self.population})")
        return self


P = MuLambdaParams.slots()


def expected_norm(n: int) -> float:
    """E‖N(0, I_n)‖ ≈ √n (1 − 1/(4n) + 1/(21n²))."""
    return float(np.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n)))


@njit(cache=True, inline="always")
def best_first(fitness):
    """Members from the best fitness to the worst (NaN last; equal fitness keeps the member order)."""
    key = np.empty(fitness.shape[0])
    for i in range(fitness.shape[0]):
        key[i] = np.inf if np.isnan(fitness[i]) else -fitness[i]
    return np.argsort(key, kind="mergesort")


@njit(cache=True)
def mu_lambda_ask(state, hp, noise, noise64, population):
    """x_k = m + σ z_k for the λ offspring (z ~ N(0, I) in float64)."""
    n = population.shape[1]
    for k in range(population.shape[0]):
        for j in range(n):
            population[k, j] = state[S_MEAN + j] + state[S_SIGMA] * noise64[k, j]


@njit(cache=True)
def mu_lambda_tell(state, hp, population, noise, noise64, fitness):
    """m ← m + σ ⟨z⟩_μ best,  p ← (1−c)p + √(c(2−c)μ)⟨z⟩,  σ ← σ·exp(c/d (‖p‖/E‖N‖ − 1))."""
    n = population.shape[1]
    mu = np.int64(hp[P.parents])
    order = best_first(fitness)
    path = state[S_MEAN + n:S_MEAN + 2 * n]
    c, d, chi = state[S_MEAN + 2 * n], state[S_MEAN + 2 * n + 1], state[S_MEAN + 2 * n + 2]
    z_mean = np.zeros(n)
    for k in range(mu):
        for j in range(n):
            z_mean[j] += noise64[order[k], j]
    length = 0.0
    for j in range(n):
        z_mean[j] /= mu
        state[S_MEAN + j] += state[S_SIGMA] * z_mean[j]
        path[j] = (1.0 - c) * path[j] + np.sqrt(c * (2.0 - c) * mu) * z_mean[j]
        length += path[j] * path[j]
    state[S_SIGMA] *= np.exp(c / d * (np.sqrt(length) / chi - 1.0))
    state[S_GENERATION] += 1.0


class MuLambdaES(PopulationRule):
    name = "mu_lambda_es"
    summary = "λ offspring around the mean; the mean of the μ best is the new mean; σ by cumulative path length."
    equation = "m ← m + σ ⟨z⟩_μ best,  p ← (1−c)p + √(c(2−c)μ)⟨z⟩,  σ ← σ·exp(c/d (‖p‖/E‖N‖ − 1))"
    reference = "Beyer & Schwefel 2002; Hansen & Ostermeier 2001 (CSA)"
    Params = MuLambdaParams
    ask_kernel = staticmethod(mu_lambda_ask)
    tell_kernel = staticmethod(mu_lambda_tell)

    def extra_state_size(self, n: int) -> int:
        return n + 3  # the evolution path, then c, d and E‖N(0, I)‖

    def initial_state(self, theta: np.ndarray) -> np.ndarray:
        state = super().initial_state(theta)
        n, mu = theta.size, self.params.parents
        c = (mu + 2) / (n + mu + 5)
        state[S_MEAN + 2 * n:] = (c, 1 + 2 * max(0.0, np.sqrt((mu - 1) / (n + 1)) - 1) + c, expected_norm(n))
        return state

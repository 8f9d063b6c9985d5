"""OpenAI-ES, a natural evolution strategy (Salimans, Ho, Chen, Sidor & Sutskever 2017)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit
from pydantic import model_validator

from rulelab.core.population import S_GENERATION, S_MEAN, S_SIGMA, ESParams, PopulationRule, centered_ranks_into
from rulelab.rule import Field


class OpenAIESParams(ESParams):
    population: int = Field(64, ge=2, description="members per generation (even with antithetic sampling)")
    lr: float = Field(0.05, gt=0, description="learning rate of the update along the estimated gradient")
    optimizer: Literal["sgd", "adam"] = Field("adam", description="how the estimated gradient is applied")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd momentum")
    weight_decay: float = Field(0.0, ge=0, description="θ ← θ − lr·decay·θ each generation")
    antithetic: bool = Field(True, description="mirrored sampling: ε and −ε")

    @model_validator(mode="after")
    def _even_population(self) -> "OpenAIESParams":
        if self.antithetic and self.population % 2:
            raise ValueError(f"population must be even for antithetic (mirrored) sampling; got {self.population}")
        return self


P = OpenAIESParams.slots()
ADAM = OpenAIESParams.code("optimizer", "adam")
BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8


@njit(cache=True)
def openai_es_ask(state, hp, noise, noise64, population):
    """θ_i = m + σ ε_i, and m − σ ε_i for the mirrored half (ε ~ N(0, I) in the network's dtype)."""
    n = population.shape[1]
    rows = population.shape[0] // 2 if hp[P.antithetic] != 0.0 else population.shape[0]
    sigma = population.dtype.type(state[S_SIGMA])  # the step in the network's dtype, as NumPy multiplies
    for i in range(rows):
        for j in range(n):
            mean = population.dtype.type(state[S_MEAN + j])
            step = noise[i, j] * sigma
            if rows < population.shape[0]:
                population[rows + i, j] = mean - step
            population[i, j] = step + mean


@njit(cache=True)
def openai_es_tell(state, hp, population, noise, noise64, fitness):
    """g = 1/(Pσ) Σ_i rank(F_i) ε_i (mirrored pairs: r⁺ − r⁻),  m ← m(1 − η λ) + η·Adam(g) or SGD-momentum(g)."""
    state[S_GENERATION] += 1.0
    if np.all(np.isnan(fitness)):
        return  # no member told us anything: stay put
    count = fitness.shape[0]
    n = population.shape[1]
    ranks = np.empty(count)
    centered_ranks_into(fitness, ranks)
    rows = count // 2 if hp[P.antithetic] != 0.0 else count
    g = np.zeros(n)
    for i in range(rows):
        r = ranks[i] - ranks[rows + i] if rows < count else ranks[i]
        for j in range(n):
            g[j] += r * np.float64(noise[i, j])
    scale = 1.0 / (count * state[S_SIGMA])
    mean = state[S_MEAN:S_MEAN + n]
    m = state[S_MEAN + n:S_MEAN + 2 * n]
    v = state[S_MEAN + 2 * n:S_MEAN + 3 * n]
    lr, shrink = hp[P.lr], 1.0 - hp[P.lr] * hp[P.weight_decay]
    t = state[S_GENERATION]
    for j in range(n):
        gj = g[j] * scale
        if hp[P.optimizer] == ADAM:
            m[j] = BETA1 * m[j] + (1.0 - BETA1) * gj
            v[j] = BETA2 * v[j] + (1.0 - BETA2) * gj * gj
            step = (m[j] / (1.0 - BETA1 ** t)) / (np.sqrt(v[j] / (1.0 - BETA2 ** t)) + ADAM_EPS)
        else:
            m[j] = hp[P.momentum] * m[j] + gj
            step = m[j]
        mean[j] = mean[j] * shrink + lr * step


class OpenAIES(PopulationRule):
    name = "openai_es"
    summary = "Gaussian perturbations (mirrored), centred-rank fitness shaping, Adam/SGD on the estimate."
    equation = "g = 1/(nσ) Σᵢ rank(Fᵢ) εᵢ,  θ ← θ + η·Adam(g)"
    reference = "Salimans et al. 2017"
    Params = OpenAIESParams
    ask_kernel = staticmethod(openai_es_ask)
    tell_kernel = staticmethod(openai_es_tell)
    noise_in_network_dtype = True

    def extra_state_size(self, n: int) -> int:
        return 2 * n  # the optimiser's moments m and v

    def noise_rows(self, n: int) -> int:
        p = self.params
        return p.population // 2 if p.antithetic else p.population

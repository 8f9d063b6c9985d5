"""OpenAI-ES, a natural evolution strategy (Salimans, Ho, Chen, Sidor & Sutskever 2017)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import model_validator

from rulelab.core.population import ESParams, ESState, PopulationRule, centered_ranks, gaussian_rows
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


class OpenAIES(PopulationRule):
    name = "openai_es"
    summary = "Gaussian perturbations (mirrored), centred-rank fitness shaping, Adam/SGD on the estimate."
    equation = "g = 1/(nσ) Σᵢ rank(Fᵢ) εᵢ,  θ ← θ + η·Adam(g)"
    reference = "Salimans et al. 2017"
    Params = OpenAIESParams

    def start(self, theta: np.ndarray, rng: np.random.Generator) -> ESState:
        state = super().start(theta, rng)
        n = theta.size
        state.extra = {"m": np.zeros(n), "v": np.zeros(n), "eps": None}
        return state

    def ask(self, state: ESState, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        n = state.mean.size
        rows = p.population // 2 if p.antithetic else p.population
        eps = gaussian_rows(state, rng, rows, n, state.dtype)
        state.extra["eps"] = eps
        mean = state.mean.astype(state.dtype)
        population = np.empty((p.population, n), dtype=state.dtype)
        np.multiply(eps, state.sigma, out=population[:rows])
        if p.antithetic:  # mirrored pairs: θ + σε and θ − σε
            np.subtract(mean, population[:rows], out=population[rows:])
        population[:rows] += mean
        return population

    def tell(self, state: ESState, population: np.ndarray, fitness: np.ndarray) -> None:
        p = self.params
        state.generation += 1
        if np.isnan(fitness).all():
            return  # no member told us anything: stay put
        eps = state.extra["eps"]
        ranks = centered_ranks(fitness)
        if p.antithetic:  # Σ r_i ε_i over mirrored pairs = Σ (r⁺ − r⁻) ε
            ranks = ranks[:len(eps)] - ranks[len(eps):]
        g = (ranks @ eps).astype(np.float64) / (len(fitness) * state.sigma)
        x = state.extra
        if p.optimizer == "adam":
            b1, b2 = 0.9, 0.999
            x["m"] = b1 * x["m"] + (1 - b1) * g
            x["v"] = b2 * x["v"] + (1 - b2) * g * g
            t = state.generation
            step = (x["m"] / (1 - b1 ** t)) / (np.sqrt(x["v"] / (1 - b2 ** t)) + 1e-8)
        else:
            x["m"] = p.momentum * x["m"] + g
            step = x["m"]
        state.mean = state.mean * (1.0 - p.lr * p.weight_decay) + p.lr * step

"""The (μ/μ_I, λ)-ES: intermediate recombination of the μ best of λ, cumulative step-size adaptation."""

from __future__ import annotations

import numpy as np
from pydantic import model_validator

from rulelab.core.population import ESParams, ESState, PopulationRule, gaussian_rows
from rulelab.rule import Field


class MuLambdaParams(ESParams):
    population: int = Field(20, ge=2, description="λ, offspring per generation")
    parents: int = Field(5, ge=1, description="μ, the best offspring recombined into the next mean")

    @model_validator(mode="after")
    def _fewer_parents(self) -> "MuLambdaParams":
        if self.parents >= self.population:
            raise ValueError(f"parents (μ = {self.parents}) must be fewer than population (λ = {self.population})")
        return self


def expected_norm(n: int) -> float:
    """E‖N(0, I_n)‖ ≈ √n (1 − 1/(4n) + 1/(21n²))."""
    return float(np.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n)))


class MuLambdaES(PopulationRule):
    name = "mu_lambda_es"
    summary = "λ offspring around the mean; the mean of the μ best is the new mean; σ by cumulative path length."
    equation = "m ← m + σ ⟨z⟩_μ best,  p ← (1−c)p + √(c(2−c)μ)⟨z⟩,  σ ← σ·exp(c/d (‖p‖/E‖N‖ − 1))"
    reference = "Beyer & Schwefel 2002; Hansen & Ostermeier 2001 (CSA)"
    Params = MuLambdaParams

    def start(self, theta: np.ndarray, rng: np.random.Generator) -> ESState:
        state = super().start(theta, rng)
        n, mu = theta.size, self.params.parents
        c = (mu + 2) / (n + mu + 5)
        state.extra = {"path": np.zeros(n), "c": c, "d": 1 + 2 * max(0.0, np.sqrt((mu - 1) / (n + 1)) - 1) + c,
                       "z": None, "chi": expected_norm(n)}
        return state

    def ask(self, state: ESState, rng: np.random.Generator) -> np.ndarray:
        z = gaussian_rows(state, rng, self.params.population, state.mean.size)
        state.extra["z"] = z
        return state.mean + state.sigma * z

    def tell(self, state: ESState, population: np.ndarray, fitness: np.ndarray) -> None:
        x = state.extra
        order = np.argsort(-np.where(np.isnan(fitness), -np.inf, fitness), kind="stable")
        mu = self.params.parents
        z_mean = x["z"][order[:mu]].mean(axis=0)
        state.mean = state.mean + state.sigma * z_mean
        c = x["c"]
        x["path"] = (1 - c) * x["path"] + np.sqrt(c * (2 - c) * mu) * z_mean
        state.sigma *= float(np.exp(c / x["d"] * (np.linalg.norm(x["path"]) / x["chi"] - 1)))
        state.generation += 1

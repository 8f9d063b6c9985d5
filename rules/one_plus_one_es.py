"""The (1+1)-ES with Rechenberg's 1/5th success rule for its step size."""

from __future__ import annotations

import numpy as np

from rulelab.core.population import ESState, PopulationRule


class OnePlusOneES(PopulationRule):
    name = "one_plus_one_es"
    summary = "One parent, one mutant; keep the better; σ grows on success and shrinks on failure."
    equation = "x' = x + σ z,  keep x' if F(x') ≥ F(x),  σ ← σ·exp((1[success] − 1/5)/√(n+1))"
    reference = "Rechenberg 1973; Kern et al. 2004"

    def ask(self, state: ESState, rng: np.random.Generator) -> np.ndarray:
        # The parent is re-evaluated with its child so both are judged on the same minibatch.
        child = state.mean + state.sigma * rng.standard_normal(state.mean.size)
        return np.stack([state.mean, child])

    def tell(self, state: ESState, population: np.ndarray, fitness: np.ndarray) -> None:
        parent, child = fitness
        success = not np.isnan(child) and (np.isnan(parent) or child >= parent)
        if success:
            state.mean = population[1].astype(np.float64)
        state.sigma *= float(np.exp((float(success) - 0.2) / np.sqrt(state.mean.size + 1.0)))
        state.generation += 1

"""Hebbian storage for a Hopfield network: the outer-product rule."""

from __future__ import annotations

import numpy as np

from rulelab.core.hopfield import AssociativeRule


class HopfieldHebbian(AssociativeRule):
    name = "hopfield_hebbian"
    summary = "Each stored pattern adds its outer product; capacity ≈ 0.138 N (Amit, Gutfreund & Sompolinsky)."
    equation = "W = (1/N) Σ_μ ξ^μ ξ^μᵀ,  w_ii = 0"
    reference = "Hopfield 1982"

    def store(self, patterns: np.ndarray) -> np.ndarray:
        n = patterns.shape[1]
        W = patterns.T @ patterns / n
        np.fill_diagonal(W, 0.0)
        return W

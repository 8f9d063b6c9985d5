"""Hebbian storage for a Hopfield network: the outer-product rule."""

from __future__ import annotations

import numpy as np

from rulelab.core.hopfield import AssociativeRule, StoredWeights


class HopfieldHebbian(AssociativeRule):
    name = "hopfield_hebbian"
    summary = "Each stored pattern adds its outer product; capacity ≈ 0.138 N (Amit, Gutfreund & Sompolinsky)."
    equation = "W = (1/N) Σ_μ ξ^μ ξ^μᵀ,  w_ii = 0"
    reference = "Hopfield 1982"

    def store(self, patterns: np.ndarray) -> np.ndarray:
        return self.store_exact(patterns).weights

    def store_exact(self, patterns: np.ndarray) -> StoredWeights:
        # Σ_μ ξ_i ξ_j is a whole number (exact in float64 for any p < 2^53); dividing by N once, and
        # only for reporting, keeps every local field a whole number over N and every tie exact.
        counts = np.asarray(patterns, dtype=np.float64).T @ np.asarray(patterns, dtype=np.float64)
        np.fill_diagonal(counts, 0.0)
        return StoredWeights(counts, float(patterns.shape[1]))

"""The pseudo-inverse (projection) rule: every linearly independent pattern becomes a fixed point."""

from __future__ import annotations

import numpy as np

from rulelab.core.hopfield import AssociativeRule


class PseudoInverse(AssociativeRule):
    name = "pseudo_inverse"
    summary = "W projects onto the span of the patterns; non-local, but stores up to p < N patterns exactly."
    equation = "W = Ξ (Ξᵀ Ξ)⁻¹ Ξᵀ,  w_ii = 0"
    reference = "Personnaz, Guyon & Dreyfus 1985; Kanter & Sompolinsky 1987"
    local = False

    def capacity_problem(self, p: int, n: int) -> str | None:
        if p >= n:
            return f"the pseudo-inverse rule stores fewer patterns than units; got {p} patterns for {n} units"
        return None

    def store(self, patterns: np.ndarray) -> np.ndarray:
        xi = patterns.T.astype(np.float64)  # N × p
        gram = xi.T @ xi
        if np.linalg.matrix_rank(gram) < gram.shape[0]:
            raise ValueError("the patterns are linearly dependent: the pseudo-inverse rule cannot store them")
        W = xi @ np.linalg.solve(gram, xi.T)
        # Without self-connections ξ_i is still a fixed point: (W ξ)_i = (1 − P_ii) ξ_i with P_ii < 1.
        np.fill_diagonal(W, 0.0)
        return W

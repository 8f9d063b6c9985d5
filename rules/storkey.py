"""Storkey's learning rule for Hopfield networks: incremental, local, higher capacity than Hebbian."""

from __future__ import annotations

import numpy as np

from rulelab.core.hopfield import AssociativeRule


class Storkey(AssociativeRule):
    name = "storkey"
    summary = "Hebbian storage minus the crosstalk the existing weights already predict; local and incremental."
    equation = "Δw_ij = (1/N)(ξ_i ξ_j − ξ_i h_ji − h_ij ξ_j),  h_ij = Σ_{k≠i,j} w_ik ξ_k"
    reference = "Storkey 1997"

    def store(self, patterns: np.ndarray) -> np.ndarray:
        n = patterns.shape[1]
        W = np.zeros((n, n))
        for xi in patterns.astype(np.float64):
            h = W @ xi  # h_i = Σ_k w_ik ξ_k (w_ii = 0), so h_ij = h_i − w_ij ξ_j
            H = h[:, None] - W * xi[None, :]
            W = W + (np.outer(xi, xi) - xi[:, None] * H.T - H * xi[None, :]) / n
            np.fill_diagonal(W, 0.0)
        return W

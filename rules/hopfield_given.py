"""Hopfield by hand: the weight matrix written in the scenario (lecture notes 004's 3-neuron example)."""

from __future__ import annotations

import numpy as np

from rulelab.core.hopfield import AssociativeRule, StoredWeights
from rulelab.rule import Field, HyperParameters


def _w(i: int, j: int) -> str:
    """The notes' name of weight (i, j), counting units from 1: w_12, or w_10,11 past nine units."""
    return f"w_{i + 1}{j + 1}" if max(i, j) < 9 else f"w_{i + 1},{j + 1}"


class GivenWeights(HyperParameters):
    weights: list[list[float]] | None = Field(
        None, description="the N × N weight matrix, row i = w_i; symmetric with a zero diagonal")


class HopfieldGiven(AssociativeRule):
    name = "hopfield_given"
    summary = "No storage: the weights are written in the scenario (Hopfield by hand, as in the notes)."
    equation = "W as given (w_ij = w_ji, w_ii = 0);  net_i = w_i·v + I_i − T_i"
    reference = "lecture notes 004"
    local = False  # nothing is learned
    Params = GivenWeights

    def configuration_problem(self, n: int) -> tuple[str, str] | None:
        W = self.params.weights
        if W is None:
            return "weights", f"missing; write the {n} × {n} matrix, one row per unit (weights: [[…], …])"
        rows = [len(row) for row in W]
        if len(W) != n or any(r != n for r in rows):
            return "weights", (f"got {len(W)} rows of {'/'.join(map(str, sorted(set(rows))))} values; "
                               f"the network has {n} units, so {n} rows of {n}")
        matrix = np.asarray(W, dtype=np.float64)
        if not np.all(np.isfinite(matrix)):
            return "weights", "every entry must be a finite number"
        diagonal = [i for i in range(n) if matrix[i, i] != 0.0]
        if diagonal:
            i = diagonal[0]
            return "weights", f"{_w(i, i)} = {matrix[i, i]:g}; a Hopfield net has no self-connections (w_ii = 0)"
        asymmetric = np.argwhere(matrix != matrix.T)
        if len(asymmetric):
            i, j = asymmetric[0]
            return "weights", (f"{_w(i, j)} = {matrix[i, j]:g} but {_w(j, i)} = {matrix[j, i]:g}; "
                               "a Hopfield net's weights are symmetric (w_ij = w_ji)")
        return None

    def store(self, patterns: np.ndarray) -> np.ndarray:
        return self.store_exact(patterns).weights

    def store_exact(self, patterns: np.ndarray) -> StoredWeights:
        n = patterns.shape[1]
        if self.params.weights is None:  # only a contract check gets here: the scenario check requires weights
            return StoredWeights(np.zeros((n, n)), 1.0)
        return StoredWeights(np.array(self.params.weights, dtype=np.float64), 1.0)

"""Hopfield associative memory: storage-rule base class and the compiled recall dynamics.

Units are bipolar with the notes' convention  v_i = 1 if net_i ≥ 0 else −1,
net_i = Σ_j w_ij v_j + I_i − T_i  (b = I − T below).  Weights are symmetric with
a zero diagonal; the energy

    E = −½ vᵀ W v − Σ_i I_i v_i + Σ_i T_i v_i = −½ vᵀ W v − bᵀ v

never increases under asynchronous updates.  Synchronous updates of a symmetric net
end in a fixed point or a 2-cycle (Goles 1985); a 2-cycle is detected and reported.
In the flat parameter vector a Hopfield net is one square layer: W (N × N) and b,
so ``sign(W v + b)`` is also its synchronous update as a feed-forward layer.

Ties are decided exactly.  Hebbian weights are multiples of 1/N, and a local field
of exactly 0 is common; summed as floats, (1/N)-rounded weights leave ±1e−16 and the
summation order would decide v = ±1.  So a storage rule may hand over its weights as
a numerator and a divisor (:class:`StoredWeights`: W = numerator / divisor, the
numerator whole numbers); recall then compares  numerator·v + divisor·b  with 0,
sums of whole numbers that floating point adds exactly in any order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import njit, prange

from rulelab.rule import HyperParameters, Needs, Rule

TARGET, NEGATION, OTHER, SPURIOUS, TWO_CYCLE = 0, 1, 2, 3, 4
STATE_NAMES = ("target", "negation", "other_pattern", "spurious")  # the classes of a final state
TWO_CYCLE_NAME = "two_cycle"  # synchronous recall only: no final state, two alternating ones


class NoParams(HyperParameters):
    pass


@dataclass(frozen=True)
class StoredWeights:
    """W = numerator / divisor.  Recall uses the numerator and divisor·b, so that whole-number
    numerators (Hebbian: Σ_μ ξ_i^μ ξ_j^μ, divisor N) give exact local fields and exact ties."""

    numerator: np.ndarray
    divisor: float = 1.0

    @property
    def weights(self) -> np.ndarray:
        return self.numerator / self.divisor


class AssociativeRule(Rule):
    """A storage rule: patterns in, a symmetric zero-diagonal weight matrix out."""

    kind: ClassVar[str] = "associative"
    family: ClassVar[str] = "associative"
    needs: ClassVar[Needs] = Needs()
    signal: ClassVar[str] = "overlap"
    Params = NoParams

    def store(self, patterns: np.ndarray) -> np.ndarray:
        """Weights (N × N) that store ``patterns`` (p × N, entries ±1)."""
        raise NotImplementedError

    def store_exact(self, patterns: np.ndarray) -> StoredWeights:
        """The same weights as a numerator and a divisor (see :class:`StoredWeights`).

        The default divides by 1; a rule whose weights are whole numbers over a common
        divisor overrides it, so that recall decides ties exactly.
        """
        return StoredWeights(np.asarray(self.store(patterns), dtype=np.float64), 1.0)

    def configuration_problem(self, n: int) -> tuple[str, str] | None:
        """(hyperparameter, what is wrong) when the hyperparameters do not fit a net of ``n`` units, or None."""
        return None

    def capacity_problem(self, p: int, n: int) -> str | None:
        """Why ``p`` patterns of ``n`` units cannot be stored by this rule, or None."""
        return None

    def check_network(self, net) -> str | None:
        if net.n_layers != 1 or net.sizes[0] != net.sizes[1] or net.output_activation != "sign":
            return (f"a Hopfield net is one square layer with sign units, e.g. layers: [N, N], activation: sign; "
                    f"got layers {list(net.sizes)} with {net.output_activation}")
        return None


@njit(cache=True)
def energy(W, b, v):
    """E = −½ vᵀ W v − bᵀ v."""
    e = 0.0
    for i in range(v.shape[0]):
        h = 0.0
        for j in range(v.shape[0]):
            h += W[i, j] * v[j]
        e -= 0.5 * v[i] * h + b[i] * v[i]
    return e


@njit(cache=True)
def _next_random(state):
    """xorshift64*: a small, fast generator each probe owns, so orders never depend on threads."""
    state ^= state >> np.uint64(12)
    state ^= state << np.uint64(25)
    state ^= state >> np.uint64(27)
    return state, state * np.uint64(2685821657736338717)


@njit(cache=True)
def async_recall_one(W, b, v, seed, max_sweeps, energies):
    """Asynchronous recall in place: units one at a time in a fresh random order each sweep,
    v_i ← sign(h_i + b_i) with h = W v kept up to date (O(N) per flip).  Stops after a sweep
    with no change (a fixed point).  energies[k] = E after sweep k (energies[0]: the cue).
    Returns (sweeps run, converged)."""
    n = v.shape[0]
    h = np.dot(W, v)
    e = 0.0
    for i in range(n):
        e -= 0.5 * v[i] * h[i] + b[i] * v[i]
    energies[0] = e
    order = np.arange(n)
    state = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)
    for sweep in range(max_sweeps):
        for k in range(n - 1, 0, -1):  # Fisher–Yates
            state, r = _next_random(state)
            j = np.int64(r % np.uint64(k + 1))
            order[k], order[j] = order[j], order[k]
        changed = 0
        for k in range(n):
            i = order[k]
            new = 1.0 if h[i] + b[i] >= 0.0 else -1.0
            if new != v[i]:
                delta = new - v[i]
                v[i] = new
                row = W[i]  # W is symmetric: column i is row i, contiguous
                for j in range(n):
                    h[j] += delta * row[j]
                changed += 1
        e = 0.0
        for i in range(n):
            e -= 0.5 * v[i] * h[i] + b[i] * v[i]
        energies[sweep + 1] = e
        if changed == 0:
            return sweep + 1, True
    return max_sweeps, False


@njit(cache=True, parallel=True)
def async_recall(W, b, V, seeds, max_sweeps, sweeps, converged, energies):
    """Asynchronous recall of every probe (rows of V, in place), probes in parallel."""
    for p in prange(V.shape[0]):
        s, c = async_recall_one(W, b, V[p], seeds[p], max_sweeps, energies[p])
        sweeps[p] = s
        converged[p] = c


SYNC_BLOCK = 64  # probes per block: fixed, so results never depend on the thread count


@njit(cache=True)
def _sync_block(W, b, V, lo, hi, max_sweeps, sweeps, converged, energies, cycled):
    """Synchronous recall of probes lo … hi−1 (see :func:`sync_recall`)."""
    n = V.shape[1]
    active = np.arange(lo, hi)
    before = np.empty((hi - lo, n))  # each probe's state one sweep back, to recognise a 2-cycle
    for p in range(lo, hi):
        sweeps[p] = max_sweeps
        converged[p] = False
        cycled[p] = False
    for sweep in range(max_sweeps + 1):
        if active.shape[0] == 0:
            break
        Va = np.empty((active.shape[0], n))
        for k in range(active.shape[0]):
            Va[k] = V[active[k]]
        H = np.dot(Va, W)  # W is symmetric: V W = V Wᵀ, and C-contiguous operands avoid a copy
        still = np.empty(active.shape[0], dtype=np.int64)
        m = 0
        for k in range(active.shape[0]):
            p = active[k]
            e = 0.0
            for i in range(n):
                e -= 0.5 * V[p, i] * H[k, i] + b[i] * V[p, i]
            energies[p, sweep] = e
            if sweep == max_sweeps:
                continue  # only the final energy was wanted
            changed = 0
            back = sweep > 0  # does the new state repeat the one before the current state?
            for i in range(n):
                new = 1.0 if H[k, i] + b[i] >= 0.0 else -1.0
                if back and new != before[p - lo, i]:
                    back = False
                before[p - lo, i] = V[p, i]
                if new != V[p, i]:
                    V[p, i] = new
                    changed += 1
            if changed == 0:
                sweeps[p] = sweep + 1
                converged[p] = True
                energies[p, sweep + 1] = e
            elif back:
                # v(t+1) = v(t−1) ≠ v(t): the two states alternate for ever.
                sweeps[p] = sweep + 1
                cycled[p] = True
                energies[p, sweep + 1] = energies[p, sweep - 1]
            else:
                still[m] = p
                m += 1
        active = still[:m]


@njit(cache=True, parallel=True)
def sync_recall(W, b, V, max_sweeps, sweeps, converged, energies, cycled):
    """Synchronous recall of every probe (rows of V, in place): all units at once, V ← sign(V Wᵀ + b).

    Probes go in fixed blocks, in parallel; within a block each sweep is one BLAS product over
    the probes still moving, and its fields also price the energy of the state entering the
    sweep, E = −½ v·h − b·v, in O(N) a probe.  A probe stops at its first fixed point
    (``converged``), or when its new state repeats the state before the current one: a 2-cycle
    (``cycled``; the state it stops in is one of the two), or at the sweep limit.
    """
    P = V.shape[0]
    n_blocks = (P + SYNC_BLOCK - 1) // SYNC_BLOCK
    for k in prange(n_blocks):
        _sync_block(W, b, V, k * SYNC_BLOCK, min(P, (k + 1) * SYNC_BLOCK), max_sweeps, sweeps, converged,
                    energies, cycled)


def classify_states(final: np.ndarray, targets: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """For each probe: TARGET, NEGATION (−target), OTHER (± another stored pattern) or SPURIOUS.

    Bipolar states agree everywhere exactly when ξ·v = ±N, so one product decides all of them.
    """
    n = final.shape[1]
    overlaps = final @ patterns.T  # whole numbers: exact in floating point
    own = overlaps[np.arange(len(final)), targets]
    out = np.full(len(final), SPURIOUS)
    out[np.any(np.abs(overlaps) == n, axis=1)] = OTHER
    out[own == -n] = NEGATION
    out[own == n] = TARGET
    return out

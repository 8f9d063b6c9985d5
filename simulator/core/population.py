"""Population (zeroth-order) learning: the compiled, parallel fitness of many parameter vectors.

A population rule (evolution strategies) only ever sees parameter vectors and
their fitness.  Its per-generation vector maths (``ask``/``tell``) is NumPy;
the expensive part — a forward pass of every member over a minibatch — is one
compiled kernel, parallel over members.  Each member's fitness is summed by one
thread in a fixed order, so results are identical whatever the thread count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from numba import njit, prange

from rulelab.core import kernels as K
from rulelab.core.activations import activate_block
from rulelab.rule import Field, HyperParameters, Needs, Rule

FITNESS_LOSS = 0
FITNESS_ACCURACY = 1


@njit(cache=True, parallel=True)
def _touch_every_thread(out):
    for i in prange(out.shape[0]):
        out[i] = i


def start_parallel_threads() -> None:
    """Start the compiled code's worker threads now (a trivial parallel loop).

    They must exist before BLAS is limited to one thread: when the first parallel loop ran
    after ``threadpool_limits``, BLAS calls made from the workers ignored the limit and the
    population fitness took 38 ms a generation instead of 10 (measured; the cause lies
    between OpenBLAS's and OpenMP's thread start-up).
    """
    _touch_every_thread(np.zeros(64))


# Members per first-layer product: fixed, not derived from the thread count, so that every
# member's numbers come from the same BLAS call whatever the number of threads.
MEMBER_BLOCK = 16


@njit(cache=True, parallel=True)
def _first_layer(population, layout, Xt, Z):
    """Z[rows of member i] = W_0(i) Xᵀ + b_0(i), units × samples: one GEMM per block of members.

    The input is shared, so a block's weight matrices stacked (block·n_out × n_in) make one
    large product instead of many small ones (the input is packed once per block, not per member).
    """
    n_members = population.shape[0]
    n_out, n_in = layout[0, K.N_OUT], layout[0, K.N_IN]
    w_off, b_off = layout[0, K.W_OFF], layout[0, K.B_OFF]
    for block in prange((n_members + MEMBER_BLOCK - 1) // MEMBER_BLOCK):
        lo = block * MEMBER_BLOCK
        hi = min(lo + MEMBER_BLOCK, n_members)
        stacked = np.empty(((hi - lo) * n_out, n_in), population.dtype)
        for i in range(lo, hi):
            stacked[(i - lo) * n_out:(i - lo + 1) * n_out] = K.weights(population[i], layout, 0)
        out = Z[lo * n_out:hi * n_out]
        np.dot(stacked, Xt, out)
        for i in range(lo, hi):
            _add_bias(out[(i - lo) * n_out:(i - lo + 1) * n_out], population[i, b_off:b_off + n_out])


@njit(cache=True, parallel=True)
def _next_layer(population, layout, layer, A, Z):
    """Z[rows of member i] = W_l(i) A[rows of member i] + b_l(i) for every member i."""
    n_out, n_in = layout[layer, K.N_OUT], layout[layer, K.N_IN]
    b_off = layout[layer, K.B_OFF]
    for i in prange(population.shape[0]):
        out = Z[i * n_out:(i + 1) * n_out]
        np.dot(K.weights(population[i], layout, layer), A[i * n_in:(i + 1) * n_in], out)
        _add_bias(out, population[i, b_off:b_off + n_out])


@njit(cache=True, inline="always")
def _add_bias(Z, b):
    """Z[j, :] += b[j]: one unit's bias over every sample (a contiguous row)."""
    for j in range(Z.shape[0]):
        row = Z[j]
        for r in range(row.shape[0]):
            row[r] += b[j]


@njit(cache=True, parallel=True)
def _shift_by_max(Z, n_out):
    """z ← z − max_k z for every (member, sample): the log-sum-exp shift, in place."""
    for i in prange(Z.shape[0] // n_out):
        member = Z[i * n_out:(i + 1) * n_out]
        for r in range(member.shape[1]):
            m = member[0, r]
            for k in range(1, n_out):
                m = max(m, member[k, r])
            for k in range(n_out):
                member[k, r] -= m


@njit(cache=True, parallel=True)
def _softmax_cross_entropy_fitness(S, E, T, out):
    """out[i] = −mean_r Σ_k −t_rk log max(o_rk, ε), o = softmax, from the shifted logits S and
    E = exp(S) (units × samples per member): log o_k = s_k − log Σ_j e_j, no division."""
    n_out = T.shape[1]
    log_eps = np.log(1e-12)  # the clip of kernels.sample_loss, in the log domain
    n_rows = S.shape[1]
    for i in prange(out.shape[0]):
        base = i * n_out
        total = 0.0
        for r in range(n_rows):
            s = 0.0
            for k in range(n_out):
                s += E[base + k, r]
            log_sum = np.log(s)
            for k in range(n_out):
                if T[r, k] > 0.0:
                    total -= T[r, k] * max(S[base + k, r] - log_sum, log_eps)
        out[i] = -total / max(n_rows, 1)


@njit(cache=True, parallel=True)
def _fitness_from_outputs(O, T, labels, out_code, loss_code, threshold, fitness_code, out):
    """out[i] = −mean loss or accuracy of member i from its outputs O (units × samples)."""
    n_out = O.shape[0] // out.shape[0]
    for i in prange(out.shape[0]):
        member = O[i * n_out:(i + 1) * n_out]
        total = 0.0
        for r in range(member.shape[1]):
            o = member[:, r]
            if fitness_code == FITNESS_ACCURACY:
                if K.predict_class(o, threshold) == labels[r]:
                    total += 1.0
            else:
                total -= K.sample_loss(loss_code, o, T[r], out_code)
        out[i] = total / max(member.shape[1], 1)


def population_fitness(population: np.ndarray, layout: np.ndarray, act_args: np.ndarray, X: np.ndarray,
                       T: np.ndarray, labels: np.ndarray, loss_code: int, threshold: float, fitness_code: int,
                       out: np.ndarray) -> None:
    """out[i] = fitness of population[i] on (X, T): −mean loss, or accuracy.

    Layer by layer: the products of all members in parallel (compiled; run it under one
    BLAS thread, see :func:`rulelab.run.runner.single_threaded_blas`, so that the cores are
    not oversubscribed), then the activation over the whole block.  Activations are kept
    units × samples per member, so that every product is a plain row-major GEMM and the
    softmax reduces across contiguous rows.  Every member's numbers are computed by one
    thread in a fixed order: identical results whatever the thread count.
    """
    P, B = population.shape[0], X.shape[0]
    last = layout.shape[0] - 1
    A = np.ascontiguousarray(X.T)
    for layer in range(last + 1):
        n_out = int(layout[layer, K.N_OUT])
        Z = np.empty((P * n_out, B), dtype=population.dtype)
        if layer == 0:
            _first_layer(population, layout, A, Z)
        else:
            _next_layer(population, layout, layer, A, Z)
        code = int(layout[layer, K.ACT])
        if layer == last and code == K.SOFTMAX and loss_code == K.CROSS_ENTROPY and fitness_code == FITNESS_LOSS:
            # −log softmax straight from the logits: one exp per unit, no normalised outputs.
            _shift_by_max(Z, n_out)
            with np.errstate(over="ignore", invalid="ignore"):  # overflowing members become NaN: ranked worst
                E = np.exp(Z)
            _softmax_cross_entropy_fitness(Z, E, T, out)
            return
        with np.errstate(over="ignore", invalid="ignore"):
            activate_block(code, float(act_args[layer]), Z.reshape(P, n_out, B))
        A = Z
    _fitness_from_outputs(A, T, labels, layout[last, K.ACT], loss_code, threshold, fitness_code, out)


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """Fitness shaping of Salimans et al. (2017): ranks mapped linearly onto [−0.5, 0.5].

    NaN fitness counts as the worst (it ranks below every number); equal fitness, equal rank.
    """
    from scipy.stats import rankdata

    f = np.where(np.isnan(fitness), -np.inf, fitness)
    ranks = rankdata(f, method="average") - 1.0  # ties (common with accuracy) share their mean rank
    return ranks / max(len(f) - 1, 1) - 0.5


class ESParams(HyperParameters):
    """What every population rule declares: the runner reads these (strategies add their own)."""

    sigma: float = Field(0.1, gt=0, description="step size σ: std of the perturbations (initial, if adapted)")
    fitness: Literal["loss", "accuracy"] = Field("loss", description="fitness = −(task loss) or accuracy")
    fitness_batch: int = Field(0, ge=0, description="rows per generation (0: the whole training set)")


@dataclass
class ESState:
    """What every strategy keeps between generations; strategies add their own fields in ``extra``."""

    mean: np.ndarray
    sigma: float
    generation: int = 0
    extra: dict[str, Any] | None = None
    dtype: Any = np.float64
    streams: tuple[np.random.Generator, ...] | None = None  # the noise streams of gaussian_rows


# Independent noise streams per run: a fixed number, so that the numbers do not depend on
# the thread count (and one compiled signature serves every population size).
NOISE_STREAMS = 16


@njit(cache=True, parallel=True)
def _fill_gaussian(streams, out):
    """out[r, c] ~ N(0, 1); stream b fills its own contiguous share of the rows, in order."""
    rows = out.shape[0]
    share = (rows + NOISE_STREAMS - 1) // NOISE_STREAMS
    for b in prange(NOISE_STREAMS):
        stream = streams[b]
        for r in range(b * share, min((b + 1) * share, rows)):
            for c in range(out.shape[1]):
                out[r, c] = stream.standard_normal()


def gaussian_rows(state: ESState, rng: np.random.Generator, rows: int, n: int, dtype: Any = np.float64) -> np.ndarray:
    """A rows × n block of standard normal noise, drawn by the cores together.

    Drawing the perturbations was the largest serial cost of a generation (3.3 ms of 13 for
    128 × 2410 NumPy float32 draws, measured).  NOISE_STREAMS generators, seeded once per
    run from ``rng``, fill fixed shares of the rows in a compiled parallel loop (Numba runs
    NumPy's own ziggurat on each Generator: the same numbers NumPy would draw, 0.7 ms here).
    """
    if state.streams is None:
        seeds = np.random.SeedSequence(int(rng.integers(2 ** 63))).spawn(NOISE_STREAMS)
        state.streams = tuple(np.random.Generator(np.random.PCG64(seed)) for seed in seeds)
    out = np.empty((rows, n), dtype=dtype)
    _fill_gaussian(state.streams, out)
    return out


class PopulationRule(Rule):
    """Base class of zeroth-order rules: they move the whole parameter vector using a fitness only.

    Subclasses implement :meth:`start`, :meth:`ask` and :meth:`tell`; higher
    fitness is better.  The runner evaluates each generation's members in
    parallel (:func:`population_fitness`) and counts one forward pass per sample
    per member.
    """

    kind: ClassVar[str] = "population"
    family: ClassVar[str] = "evolutionary"
    needs: ClassVar[Needs] = Needs(fitness_only=True)
    local: ClassVar[bool] = False
    signal: ClassVar[str] = "fitness_best"
    Params: ClassVar[type[ESParams]] = ESParams
    supports_tied_weights: ClassVar[bool] = False

    def check_network(self, net) -> str | None:
        return None  # any activation: no derivative is ever taken

    def start(self, theta: np.ndarray, rng: np.random.Generator) -> ESState:
        """The search starts at ``theta``; noise is drawn in ``theta``'s dtype (float32 halves the cost)."""
        return ESState(theta.astype(np.float64).copy(), float(self.params.sigma), dtype=theta.dtype)

    def ask(self, state: ESState, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def tell(self, state: ESState, population: np.ndarray, fitness: np.ndarray) -> None:
        raise NotImplementedError

    def solution(self, state: ESState) -> np.ndarray:
        """The parameters the strategy currently stands for (evaluated and saved each epoch)."""
        return state.mean


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

from simulator import kernels as K
from simulator.rule import Field, HyperParameters, Needs, Rule

FITNESS_LOSS = 0
FITNESS_ACCURACY = 1


@njit(cache=True, parallel=True)
def _first_layer(population, layout, X, Z):
    """Z[i] = X W_0(i)ᵀ + b_0(i) for every member i (the input is shared)."""
    for i in prange(population.shape[0]):
        Z[i] = np.dot(X, K.weights(population[i], layout, 0).T)
        b = K.bias(population[i], layout, 0)
        for r in range(Z.shape[1]):
            for j in range(b.shape[0]):
                Z[i, r, j] += b[j]


@njit(cache=True, parallel=True)
def _next_layer(population, layout, layer, A, Z):
    """Z[i] = A[i] W_l(i)ᵀ + b_l(i) for every member i."""
    for i in prange(population.shape[0]):
        Z[i] = np.dot(A[i], K.weights(population[i], layout, layer).T)
        b = K.bias(population[i], layout, layer)
        for r in range(Z.shape[1]):
            for j in range(b.shape[0]):
                Z[i, r, j] += b[j]


@njit(cache=True, parallel=True)
def _fitness_from_outputs(O, T, labels, out_code, loss_code, threshold, fitness_code, out):
    for i in prange(O.shape[0]):
        total = 0.0
        for r in range(O.shape[1]):
            if fitness_code == FITNESS_ACCURACY:
                if K.predict_class(O[i, r], threshold) == labels[r]:
                    total += 1.0
            else:
                total -= K.sample_loss(loss_code, O[i, r], T[r], out_code)
        out[i] = total / O.shape[1]


def activate_block(code: int, slope: float, Z: np.ndarray) -> None:
    """Z ← g(Z) in place with NumPy ufuncs over a whole (members × rows × units) block.

    Compiled exp/tanh are scalar with pip's llvmlite (no SVML); NumPy's are vectorised (evaluating
    whole members in compiled code measured 65 ms a generation against 14.5 ms this way).
    """
    if code == K.TANH:
        np.tanh(Z, out=Z)
    elif code == K.SIGMOID:
        np.negative(Z, out=Z)
        np.exp(Z, out=Z)
        Z += 1.0
        np.reciprocal(Z, out=Z)
    elif code == K.RELU:
        np.maximum(Z, 0.0, out=Z)
    elif code == K.LEAKY_RELU:
        np.multiply(Z, np.where(Z > 0, 1.0, slope).astype(Z.dtype), out=Z)
    elif code == K.STEP:
        Z[...] = Z >= 0
    elif code == K.SIGN:
        Z[...] = np.where(Z >= 0, 1.0, -1.0)
    elif code == K.SOFTMAX:
        Z -= Z.max(axis=-1, keepdims=True)
        np.exp(Z, out=Z)
        Z /= Z.sum(axis=-1, keepdims=True)


def population_fitness(population: np.ndarray, layout: np.ndarray, act_args: np.ndarray, X: np.ndarray,
                       T: np.ndarray, labels: np.ndarray, loss_code: int, threshold: float, fitness_code: int,
                       out: np.ndarray) -> None:
    """out[i] = fitness of population[i] on (X, T): −mean loss, or accuracy.

    Layer by layer: the products of all members in parallel (compiled; run it under one
    BLAS thread, see :func:`simulator.runner.single_threaded_blas`, so that the cores are
    not oversubscribed), then the activation over the whole block.
    Every member's numbers are computed by one thread in a fixed order: identical results
    whatever the thread count.
    """
    P, B = population.shape[0], X.shape[0]
    inp = None
    for layer in range(layout.shape[0]):
        Z = np.empty((P, B, layout[layer, K.N_OUT]), dtype=population.dtype)
        if layer == 0:
            _first_layer(population, layout, X, Z)
        else:
            _next_layer(population, layout, layer, inp, Z)
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing members become NaN: ranked worst
            activate_block(int(layout[layer, K.ACT]), float(act_args[layer]), Z)
        inp = Z
    _fitness_from_outputs(inp, T, labels, layout[-1, K.ACT], loss_code, threshold, fitness_code, out)


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


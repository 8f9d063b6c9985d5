"""Population (zeroth-order) learning: compiled fitness, noise, and whole runs of generations.

A population rule (evolution strategies) only ever sees parameter vectors and their
fitness.  Built-in strategies hand the engine two compiled kernels over a typed state
array (see :class:`PopulationRule`)::

    ask(state, hp, noise, noise64, population)           population ← f(state, noise)
    tell(state, hp, population, noise, noise64, fitness)  state ← g(state, population, fitness)

and :func:`run_generations` runs whole epochs of generations — minibatch, noise, ask,
fitness of every member, tell, evaluation, stop criteria — in one compiled call per chunk.
The noise is standard normal, drawn by the engine from NOISE_STREAMS generators seeded
once per run (in the network's dtype, ``noise``, or float64, ``noise64``, as the strategy
declares).  Every member's fitness is computed by one thread in a fixed order, so results
are identical whatever the thread count; small populations run serially (a parallel
launch costs more than their whole generation).

Strategies written in Python (``start``/``ask``/``tell`` with NumPy, for prototyping) still
run: the runner then drives the generations from Python, one compiled fitness call each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from numba import njit, prange, typeof, types

from rulelab.core import kernels as K
from rulelab.core.clock import monotonic_ns
from rulelab.core.jit import ByDtype
from rulelab.core.engine import (BUDGET_SPENT, C_EARLY, C_LOSS, C_SHUFFLE, CFG_SLOTS, CRITERION_MET,
                                 EVALUATION_SETS, F_CALL_SECONDS, F_THRESHOLD, FORWARD_PASSES, R_CRITERION_EPOCH,
                                 F_STOP_OBJECTIVE, R_CRITERION_FORWARD, R_EPOCH, R_FORWARD, R_SAMPLES, R_STATUS,
                                 R_WALL, RUN_SLOTS, RUNNING,
                                 WALL_SECONDS, criterion_met, divergence, measure, rows_within_budget, visiting_order)
from rulelab.core.layers import forward_rows, member_next_dense, members_first_dense
from rulelab.core.network import LAYER_KINDS
from rulelab.core.objectives import NETWORK, objective_fitness, objective_value
from rulelab.core.vecmath import exp_inplace, sigmoid_inplace, tanh_inplace
from rulelab.rule import Field, HyperParameters, Needs, Rule

FITNESS_LOSS = 0
FITNESS_ACCURACY = 1

# State slots every compiled strategy keeps first: σ, the generation count, then the mean (n values).
S_SIGMA, S_GENERATION, S_MEAN = 0, 1, 2

# Metric codes beyond the online engine's (see rulelab.core.engine).
FITNESS_BEST, FITNESS_MEAN, FITNESS_STD, SIGMA, GENERATIONS, NAN_FITNESS = 12, 13, 14, 15, 16, 17

# Metric codes of black-box objectives (task kind objective): the best f(x) evaluated so far, f at the
# strategy's mean (measured, not counted), and evaluations of f so far.
OBJECTIVE_BEST, OBJECTIVE_MEAN, EVALUATIONS = 18, 19, 30

# Settings beyond the online engine's (cfg slots); C_OBJECTIVE: the objective's code (0: a network's fitness).
C_FITNESS, C_FITNESS_BATCH, C_PARALLEL, C_NOISE_ROWS, C_NOISE64_ROWS, C_POPULATION, C_OBJECTIVE = range(
    CFG_SLOTS, CFG_SLOTS + 7)
POPULATION_CFG_SLOTS = CFG_SLOTS + 7
# Run slots beyond the online engine's: the best objective value so far.
R_OBJECTIVE_BEST = RUN_SLOTS
POPULATION_RUN_SLOTS = RUN_SLOTS + 1
# Multiply-adds of one generation's fitness below which members run serially (a parallel
# launch costs tens of microseconds, milliseconds on a busy machine).
PARALLEL_WORK = 2_000_000


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

    SIGINT is blocked while they start, and threads inherit the mask of the thread that creates
    them: a Ctrl-C is then delivered to the main thread only, whose handler just sets a flag
    (see :mod:`rulelab.run.interrupts`), never to a worker in the middle of compiled code.
    """
    import signal
    import threading

    from numba.np.ufunc import parallel as numba_parallel

    blocking = threading.current_thread() is threading.main_thread()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if blocking else None
    try:
        numba_parallel._launch_threads()  # the threading layer's pool (workqueue, OpenMP or TBB)
        _touch_every_thread(np.zeros(64))  # OpenMP and TBB start their threads at the first loop
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# Members per first-layer product: fixed, not derived from the thread count, so that every
# member's numbers come from the same BLAS call whatever the number of threads.
MEMBER_BLOCK = 16


# ------------------------------------------------------------------ fitness


@njit(cache=True, inline="always")
def activate_member_rows(code, slope, Z, n_out):
    """Z ← g(Z) for members' activations (units × samples each, stacked): elementwise codes over the
    whole block at once (vectorised exp/tanh), softmax over each member's units per sample."""
    flat = Z.ravel()
    if code == K.TANH:
        tanh_inplace(flat)
    elif code == K.SIGMOID:
        sigmoid_inplace(flat)
    elif code == K.SOFTMAX:
        for i in range(Z.shape[0] // n_out):
            member = Z[i * n_out:(i + 1) * n_out]
            _shift_by_max(member)
            exp_inplace(member.ravel())
            for r in range(member.shape[1]):
                s = 0.0
                for k in range(n_out):
                    s += member[k, r]
                for k in range(n_out):
                    member[k, r] = member[k, r] / s
    elif code != K.LINEAR:
        for i in range(flat.shape[0]):
            flat[i] = K.activate_scalar(code, slope, flat[i])


@njit(cache=True, inline="always")
def _shift_by_max(member):
    """z ← z − max_k z for every sample of one member (units × samples): the log-sum-exp shift."""
    for r in range(member.shape[1]):
        m = member[0, r]
        for k in range(1, member.shape[0]):
            m = max(m, member[k, r])
        for k in range(member.shape[0]):
            member[k, r] -= m


@njit(cache=True, inline="always")
def _softmax_cross_entropy(S, T):
    """−mean_r Σ_k −t_rk log max(o_rk, ε) of one member from its logits S (units × samples), shifted in
    place: log o_k = s_k − log Σ_j e^{s_j} — one exp per unit, no normalised outputs."""
    _shift_by_max(S)
    E = S.copy()
    exp_inplace(E.ravel())
    log_eps = np.log(1e-12)  # the clip of kernels.sample_loss, in the log domain
    total = 0.0
    for r in range(S.shape[1]):
        s = 0.0
        for k in range(S.shape[0]):
            s += E[k, r]
        log_sum = np.log(s)
        for k in range(S.shape[0]):
            if T[r, k] > 0.0:
                total -= T[r, k] * max(S[k, r] - log_sum, log_eps)
    return -total / max(S.shape[1], 1)


@njit(cache=True, inline="always")
def _accuracy_of_net_inputs(Zm, labels, threshold):
    """Fraction of samples whose argmax_k z_k (lowest k on ties) is the label, for one member's Z (units × samples)."""
    total = 0.0
    for r in range(Zm.shape[1]):
        if K.predict_class(Zm[:, r], threshold) == labels[r]:
            total += 1.0
    return total / max(Zm.shape[1], 1)


@njit(cache=True, inline="always")
def _fitness_from_outputs(O, T, labels, out_code, loss_code, threshold, fitness_code):
    """−mean loss or accuracy of one member from its outputs O (units × samples)."""
    total = 0.0
    for r in range(O.shape[1]):
        o = O[:, r]
        if fitness_code == FITNESS_ACCURACY:
            if K.predict_class(o, threshold) == labels[r]:
                total += 1.0
        else:
            total -= K.sample_loss(loss_code, o, T[r], out_code)
    return total / max(O.shape[1], 1)


@njit(cache=True, inline="always", error_model="numpy")
def _dense_block_fitness(population, layout, act_args, Xt, T, labels, loss_code, threshold, fitness_code, lo, hi,
                         out):
    """out[i] for members lo … hi−1 of a dense network: the block's first layer as one GEMM, then each member."""
    last = layout.shape[0] - 1
    n0 = layout[0, K.N_OUT]
    B = Xt.shape[1]
    Z = np.empty(((hi - lo) * n0, B), population.dtype)
    members_first_dense(population, layout, Xt, Z, lo, hi)
    softmax_ce = layout[last, K.ACT] == K.SOFTMAX and loss_code == K.CROSS_ENTROPY and fitness_code == FITNESS_LOSS
    for layer in range(last + 1):
        n_out = layout[layer, K.N_OUT]
        if layer > 0:
            Zn = np.empty(((hi - lo) * n_out, B), population.dtype)
            n_in = layout[layer, K.N_IN]
            for i in range(lo, hi):
                member_next_dense(population[i], layout, layer, Z[(i - lo) * n_in:(i - lo + 1) * n_in],
                                  Zn[(i - lo) * n_out:(i - lo + 1) * n_out])
            Z = Zn
        if layer == last and softmax_ce:
            for i in range(lo, hi):
                out[i] = _softmax_cross_entropy(Z[(i - lo) * n_out:(i - lo + 1) * n_out], T)
            return
        if layer == last and fitness_code == FITNESS_ACCURACY and K.scores_by_net_input(layout[last, K.ACT], n_out):
            for i in range(lo, hi):  # step/sign units: the class is argmax z, read before g
                out[i] = _accuracy_of_net_inputs(Z[(i - lo) * n_out:(i - lo + 1) * n_out], labels, threshold)
            return
        activate_member_rows(layout[layer, K.ACT], act_args[layer], Z, n_out)
    n_last = layout[last, K.N_OUT]
    for i in range(lo, hi):
        out[i] = _fitness_from_outputs(Z[(i - lo) * n_last:(i - lo + 1) * n_last], T, labels, layout[last, K.ACT],
                                       loss_code, threshold, fitness_code)


@njit(cache=True, inline="always", error_model="numpy")
def _member_fitness_any_kind(member, layout, act_args, X, T, labels, loss_code, threshold, fitness_code):
    """The fitness of one member through every layer kind's batch forward (samples as rows)."""
    last = layout.shape[0] - 1
    A = X.copy()
    Z = A
    for layer in range(last + 1):
        Z, A = forward_rows(member, layout, act_args, layer, A)
    out_code = layout[last, K.ACT]
    total = 0.0
    for r in range(A.shape[0]):
        if fitness_code == FITNESS_ACCURACY:
            if K.predict_net(A[r], Z[r], out_code, threshold) == labels[r]:
                total += 1.0
        else:
            total -= K.sample_loss(loss_code, A[r], T[r], out_code)
    return total / max(A.shape[0], 1)


@njit(cache=True, inline="always")
def _all_dense(layout):
    for layer in range(layout.shape[0]):
        if layout[layer, K.KIND] != K.DENSE:
            return False
    return True


@njit(cache=True, error_model="numpy")
def fitness_serial(population, layout, act_args, X, T, labels, loss_code, threshold, fitness_code, out):
    """out[i] = fitness of member i on (X, T): −mean loss, or accuracy — members one after another."""
    if _all_dense(layout):
        Xt = np.ascontiguousarray(X.T)
        n_blocks = (population.shape[0] + MEMBER_BLOCK - 1) // MEMBER_BLOCK
        for block in range(n_blocks):
            lo = block * MEMBER_BLOCK
            _dense_block_fitness(population, layout, act_args, Xt, T, labels, loss_code, threshold, fitness_code,
                                 lo, min(lo + MEMBER_BLOCK, population.shape[0]), out)
        return
    for i in range(population.shape[0]):
        out[i] = _member_fitness_any_kind(population[i], layout, act_args, X, T, labels, loss_code, threshold,
                                          fitness_code)


@njit(cache=True, parallel=True, error_model="numpy")
def fitness_parallel(population, layout, act_args, X, T, labels, loss_code, threshold, fitness_code, out):
    """As :func:`fitness_serial`, blocks of members on every core (the same numbers)."""
    if _all_dense(layout):
        Xt = np.ascontiguousarray(X.T)
        n_blocks = (population.shape[0] + MEMBER_BLOCK - 1) // MEMBER_BLOCK
        for block in prange(n_blocks):
            lo = block * MEMBER_BLOCK
            _dense_block_fitness(population, layout, act_args, Xt, T, labels, loss_code, threshold, fitness_code,
                                 lo, min(lo + MEMBER_BLOCK, population.shape[0]), out)
        return
    for i in prange(population.shape[0]):
        out[i] = _member_fitness_any_kind(population[i], layout, act_args, X, T, labels, loss_code, threshold,
                                          fitness_code)


def parallel_worthwhile(population: int, rows: int, n_params: int) -> bool:
    """Whether one generation's fitness is work enough to pay for a parallel launch."""
    return population * rows * n_params >= PARALLEL_WORK


def population_fitness(population: np.ndarray, layout: np.ndarray, act_args: np.ndarray, X: np.ndarray,
                       T: np.ndarray, labels: np.ndarray, loss_code: int, threshold: float, fitness_code: int,
                       out: np.ndarray) -> None:
    """out[i] = fitness of population[i] on (X, T): −mean loss, or accuracy (serial or parallel by size).

    Run it under one BLAS thread (see :func:`rulelab.core.threads.single_threaded_blas`), so that
    the cores are not oversubscribed."""
    chosen = fitness_parallel if parallel_worthwhile(*population.shape[:1], X.shape[0], population.shape[1]) \
        else fitness_serial
    chosen(population, layout, act_args, X, T, labels, loss_code, threshold, fitness_code, out)


# ------------------------------------------------------------------ noise

# Independent noise streams per run: a fixed number, so that the numbers do not depend on
# the thread count (and one compiled signature serves every population size).
NOISE_STREAMS = 16
# Noise values below which a Search draws them serially (waking the worker threads costs more).
PARALLEL_NOISE = 1 << 16


@njit(cache=True, inline="always")
def _fill_stream(stream, out, b, share, rows):
    for r in range(b * share, min((b + 1) * share, rows)):
        for c in range(out.shape[1]):
            out[r, c] = stream.standard_normal()


@njit(cache=True, parallel=True)
def _fill_gaussian(streams, out):
    """out[r, c] ~ N(0, 1); stream b fills its own contiguous share of the rows, in order."""
    rows = out.shape[0]
    share = (rows + NOISE_STREAMS - 1) // NOISE_STREAMS
    for b in prange(NOISE_STREAMS):
        _fill_stream(streams[b], out, b, share, rows)


@njit(cache=True, inline="always")
def fill_gaussian_serial(streams, out, rows):
    """The first ``rows`` rows of out ~ N(0, 1), exactly as :func:`_fill_gaussian` fills them, serially."""
    share = (rows + NOISE_STREAMS - 1) // NOISE_STREAMS
    for b in range(NOISE_STREAMS):
        _fill_stream(streams[b], out, b, share, rows)


def noise_streams(rng: np.random.Generator) -> tuple[np.random.Generator, ...]:
    """NOISE_STREAMS generators for one run, seeded from one draw of ``rng``."""
    seeds = np.random.SeedSequence(int(rng.integers(2 ** 63))).spawn(NOISE_STREAMS)
    return tuple(np.random.Generator(np.random.PCG64(seed)) for seed in seeds)


@dataclass
class ESState:
    """State of a strategy written in Python (prototypes); fields of its own go in ``extra``."""

    mean: np.ndarray
    sigma: float
    generation: int = 0
    extra: dict[str, Any] | None = None
    dtype: Any = np.float64
    streams: tuple[np.random.Generator, ...] | None = None  # the noise streams of gaussian_rows


def gaussian_rows(state: ESState, rng: np.random.Generator, rows: int, n: int, dtype: Any = np.float64) -> np.ndarray:
    """A rows × n block of standard normal noise from the run's streams (for strategies written in Python)."""
    if state.streams is None:
        state.streams = noise_streams(rng)
    out = np.empty((rows, n), dtype=dtype)
    fill_noise(state.streams, out)
    return out


def fill_noise(streams: tuple[np.random.Generator, ...], out: np.ndarray) -> None:
    """out ~ N(0, 1) from the streams, on every core for a large block and serially for a small one (the same
    numbers: waking the worker threads costs more than a small block)."""
    if out.size >= PARALLEL_NOISE:
        _fill_gaussian(streams, out)
    else:
        fill_gaussian_serial(streams, out, out.shape[0])


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """Fitness shaping of Salimans et al. (2017): ranks mapped linearly onto [−0.5, 0.5] (NumPy version)."""
    out = np.empty(len(fitness))
    centered_ranks_into(np.asarray(fitness, dtype=np.float64), out)
    return out


@njit(cache=True)
def centered_ranks_into(fitness, out):
    """out_i = rank(F_i)/(P−1) − ½, NaN ranked worst, equal fitness sharing its mean rank (Salimans et al. 2017)."""
    n = fitness.shape[0]
    f = np.empty(n)
    for i in range(n):
        f[i] = -np.inf if np.isnan(fitness[i]) else fitness[i]
    order = np.argsort(f, kind="mergesort")
    scale = 1.0 / max(n - 1, 1)
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and f[order[stop]] == f[order[start]]:
            stop += 1
        rank = 0.5 * (start + stop - 1)  # the mean of the ranks start … stop−1
        for k in range(start, stop):
            out[order[k]] = rank * scale - 0.5
        start = stop


# ------------------------------------------------------------------ whole runs of generations


@njit(cache=True, inline="always")
def _gather(X, T, labels, order, lo, take, Xb, Tb, Lb):
    for k in range(take):
        r = order[lo + k]
        for j in range(X.shape[1]):
            Xb[k, j] = X[r, j]
        for j in range(T.shape[1]):
            Tb[k, j] = T[r, j]
        if labels.shape[0] > 0:
            Lb[k] = labels[r]


@njit(cache=True, inline="always")
def _fitness_stats(fitness):
    """(best, mean, std) of the finite fitness values (NaN when none is finite)."""
    count, total, best = 0, 0.0, -np.inf
    for v in fitness:
        if np.isfinite(v):
            count += 1
            total += v
            best = max(best, v)
    if count == 0:
        return np.nan, np.nan, np.nan
    mean = total / count
    spread = 0.0
    for v in fitness:
        if np.isfinite(v):
            spread += (v - mean) * (v - mean)
    return best, mean, np.sqrt(spread / count)


def _run_generations(ask, tell, params, layout, act_args, state, hp, X, T, labels, streams, shuffle_rng, noise,
                     noise64, population, fitness, Xb, Tb, Lb, EX, ET, EL, columns, cfg, fcfg, run, counts, epochs,
                     out, z_buf, a_buf, transform):
    """Up to ``epochs`` epochs of a compiled strategy; a row of ``out`` per epoch; returns the rows written.

    Like the online engine, a call returns after the epoch whose generations ended fcfg[F_CALL_SECONDS]
    after the call began (NaN: when its epochs are done); the numbers do not depend on where calls end.

    An epoch visits the training set once in minibatches of C_FITNESS_BATCH rows (a fresh
    permutation when shuffling), one generation per minibatch: noise, ask, the fitness of
    every member, tell.  Then the strategy's mean is evaluated like any network, and the
    checks run (divergence, stop criteria).  ``counts`` carries (generations, members with
    a NaN fitness) across calls.

    A black-box objective (cfg[C_OBJECTIVE] ≠ 0) has one empty training row: an epoch is one
    generation, a member's fitness is −f(x) (:mod:`rulelab.core.objectives`, with ``transform``),
    one forward pass is one evaluation of f, and run[R_OBJECTIVE_BEST] keeps the best f so far.
    """
    objective = cfg[C_OBJECTIVE]
    n = X.shape[0]
    batch = cfg[C_FITNESS_BATCH]
    P = population.shape[0]
    n_params = population.shape[1]
    written = 0
    order = np.arange(n)
    call_ns = -1 if np.isnan(fcfg[F_CALL_SECONDS]) else np.int64(fcfg[F_CALL_SECONDS] * 1e9)
    called = monotonic_ns()
    for _ in range(epochs):
        if cfg[C_SHUFFLE] != 0:
            visiting_order(shuffle_rng, order)
        start = monotonic_ns()
        first_spent = -1
        for lo in range(0, n, batch):
            take = rows_within_budget(cfg, fcfg, run, min(batch, n - lo), P)
            if take == 0:
                first_spent = lo
                break
            _gather(X, T, labels, order, lo, take, Xb, Tb, Lb)
            if cfg[C_PARALLEL] != 0:
                _fill_gaussian(streams, noise[:cfg[C_NOISE_ROWS]])
                _fill_gaussian(streams, noise64[:cfg[C_NOISE64_ROWS]])
            else:
                fill_gaussian_serial(streams, noise, cfg[C_NOISE_ROWS])
                fill_gaussian_serial(streams, noise64, cfg[C_NOISE64_ROWS])
            ask(state, hp, noise, noise64, population)
            Lv = Lb[:take] if labels.shape[0] > 0 else labels
            if objective != NETWORK:
                objective_fitness(population, objective, transform, fitness)
                for i in range(P):
                    if -fitness[i] < run[R_OBJECTIVE_BEST]:
                        run[R_OBJECTIVE_BEST] = -fitness[i]
            elif cfg[C_PARALLEL] != 0:
                fitness_parallel(population, layout, act_args, Xb[:take], Tb[:take], Lv, cfg[C_LOSS],
                                 fcfg[F_THRESHOLD], cfg[C_FITNESS], fitness)
            else:
                fitness_serial(population, layout, act_args, Xb[:take], Tb[:take], Lv, cfg[C_LOSS],
                               fcfg[F_THRESHOLD], cfg[C_FITNESS], fitness)
            for i in range(P):
                if np.isnan(fitness[i]):
                    counts[1] += 1
            tell(state, hp, population, noise, noise64, fitness)
            counts[0] += 1
            run[R_FORWARD] += P * take
            run[R_SAMPLES] += take
        trained = monotonic_ns()
        run[R_WALL] += (trained - start) * 1e-9
        if first_spent == 0:
            run[R_STATUS] = BUDGET_SPENT
            break  # nothing was trained this epoch
        for p in range(n_params):
            params[p] = state[S_MEAN + p]
        run[R_EPOCH] += 1
        row = out[written]
        measure(params, layout, act_args, EX, ET, EL, cfg[C_LOSS], fcfg[F_THRESHOLD], columns, row, z_buf, a_buf,
                0.0)
        best, mean, std = _fitness_stats(fitness)
        for c in range(columns.shape[0]):
            code = columns[c]
            if code == FITNESS_BEST:
                row[c] = best
            elif code == FITNESS_MEAN:
                row[c] = mean
            elif code == FITNESS_STD:
                row[c] = std
            elif code == SIGMA:
                row[c] = state[S_SIGMA]
            elif code == GENERATIONS:
                row[c] = counts[0]
            elif code == NAN_FITNESS:
                row[c] = counts[1]
            elif code == WALL_SECONDS:
                row[c] = run[R_WALL]
            elif code == FORWARD_PASSES or code == EVALUATIONS:
                row[c] = run[R_FORWARD]
            elif code == OBJECTIVE_BEST:
                row[c] = run[R_OBJECTIVE_BEST]
            elif code == OBJECTIVE_MEAN:
                row[c] = objective_value(objective, params, transform)
        written += 1
        status = divergence(params, 0.0, run)
        if status != RUNNING:
            run[R_STATUS] = status
            break
        if run[R_CRITERION_EPOCH] < 0 and (criterion_met(fcfg, columns, row) or objective_met(fcfg, columns, row)):
            run[R_CRITERION_EPOCH] = run[R_EPOCH]
            run[R_CRITERION_FORWARD] = run[R_FORWARD]
            if cfg[C_EARLY] != 0:
                run[R_STATUS] = CRITERION_MET
                break
        if first_spent > 0:
            run[R_STATUS] = BUDGET_SPENT
            break
        if call_ns >= 0 and trained - called >= call_ns:
            break
    return written


@njit(cache=True, inline="always")
def objective_met(fcfg, columns, row):
    """The best objective value so far has reached the target train.stop.objective (NaN: no target)."""
    for c in range(columns.shape[0]):
        if columns[c] == OBJECTIVE_BEST and not np.isnan(fcfg[F_STOP_OBJECTIVE]):
            if row[c] <= fcfg[F_STOP_OBJECTIVE]:
                return True
    return False


def ask_signature(dtype: str) -> types.Signature:
    f = types.float32 if dtype == "float32" else types.float64
    f64vec, mat, mat64 = types.Array(types.float64, 1, "C"), types.Array(f, 2, "C"), types.Array(types.float64, 2,
                                                                                                      "C")
    return types.none(f64vec, f64vec, mat, mat64, mat)


def tell_signature(dtype: str) -> types.Signature:
    f = types.float32 if dtype == "float32" else types.float64
    f64vec, mat, mat64 = types.Array(types.float64, 1, "C"), types.Array(f, 2, "C"), types.Array(types.float64, 2,
                                                                                                      "C")
    return types.none(f64vec, f64vec, mat, mat, mat64, f64vec)


def _generations_signature(dtype: str) -> types.Signature:
    f = types.float32 if dtype == "float32" else types.float64
    vec, mat = types.Array(f, 1, "C"), types.Array(f, 2, "C")
    i64vec, i64mat = types.Array(types.int64, 1, "C"), types.Array(types.int64, 2, "C")
    f64vec, f64mat = types.Array(types.float64, 1, "C"), types.Array(types.float64, 2, "C")
    sets = (types.UniTuple(mat, EVALUATION_SETS), types.UniTuple(mat, EVALUATION_SETS),
            types.UniTuple(i64vec, EVALUATION_SETS))
    generator = typeof(np.random.default_rng(0))
    return types.int64(types.FunctionType(ask_signature(dtype)), types.FunctionType(tell_signature(dtype)),
                       vec, i64mat, f64vec, f64vec, f64vec, mat, mat, i64vec, types.UniTuple(generator, NOISE_STREAMS),
                       generator, mat, f64mat, mat, f64vec, mat, mat, i64vec, *sets, i64vec, i64vec, f64vec, f64vec,
                       i64vec, types.int64, f64mat, vec, vec, f64mat)


run_generations = ByDtype(_run_generations, _generations_signature, dtype_argument=2, error_model="numpy")


# ------------------------------------------------------------------ the rule base class


class ESParams(HyperParameters):
    """What every population rule declares: the runner reads these (strategies add their own)."""

    sigma: float = Field(0.1, gt=0, description="step size σ: std of the perturbations (initial, if adapted)")
    fitness: Literal["loss", "accuracy"] = Field("loss", description="fitness = −(task loss) or accuracy")
    fitness_batch: int = Field(0, ge=0, description="rows per generation (0: the whole training set)")


class PopulationRule(Rule):
    """Base class of zeroth-order rules: they move the whole parameter vector using a fitness only.

    Higher fitness is better.  A strategy is either **compiled** — it sets ``ask_kernel`` and
    ``tell_kernel`` (``@njit`` functions with the signatures in this module's docstring) and
    implements :meth:`initial_state`, :meth:`population_size` and :meth:`noise_rows` — and the
    engine runs whole epochs of its generations in compiled code; or it is written in Python
    (:meth:`start`, :meth:`ask`, :meth:`tell`) and the runner calls it once per generation.
    Either way the engine counts one forward pass per sample per member.
    """

    kind: ClassVar[str] = "population"
    family: ClassVar[str] = "evolutionary"
    needs: ClassVar[Needs] = Needs(fitness_only=True)
    local: ClassVar[bool] = False
    signal: ClassVar[str] = "fitness_best"
    Params: ClassVar[type[ESParams]] = ESParams
    supports_tied_weights: ClassVar[bool] = False
    # A fitness needs forward passes only: every kind runs them (dense nets in member blocks,
    # others through each kind's batch forward, layers.forward_rows).
    layer_kinds: ClassVar[tuple[str, ...]] = LAYER_KINDS
    ask_kernel: ClassVar[Any] = None
    tell_kernel: ClassVar[Any] = None
    # Whether ask draws its noise in the network's dtype (float32 halves the cost) or in float64.
    noise_in_network_dtype: ClassVar[bool] = False

    @property
    def compiled(self) -> bool:
        return self.ask_kernel is not None and self.tell_kernel is not None

    def check_network(self, net) -> str | None:
        return None  # any activation: no derivative is ever taken

    def for_deterministic_fitness(self, params: Any) -> Any:
        """The hyperparameters to use when the fitness is deterministic (task kind objective): the same, unless a
        strategy saves work there (the (1+1)-ES keeps its parent's fitness instead of evaluating it again)."""
        return params

    # -- compiled strategies

    def initial_state(self, theta: np.ndarray) -> np.ndarray:
        """The float64 state the kernels work on: [σ, generation, mean (n values), …the strategy's own]."""
        state = np.zeros(S_MEAN + theta.size + self.extra_state_size(theta.size))
        state[S_SIGMA] = self.params.sigma
        state[S_MEAN:S_MEAN + theta.size] = theta
        return state

    def extra_state_size(self, n: int) -> int:
        """Slots the strategy keeps after the mean (momenta, paths, covariance, …)."""
        return 0

    def population_size(self, n: int) -> int:
        """Members per generation for a search over n parameters."""
        return int(getattr(self.params, "population", 0) or 1)

    def noise_rows(self, n: int) -> int:
        """Rows of standard normal noise (n values each) the strategy uses per generation."""
        return self.population_size(n)

    # -- strategies written in Python

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



class Search:
    """A compiled strategy driven from Python, one generation at a time: ask, evaluate anything, tell.

    For tests, notebooks and objectives that are not networks; the engine's runs use the same
    kernels and the same noise streams.
    """

    def __init__(self, rule: PopulationRule, theta: np.ndarray, rng: np.random.Generator, dtype: Any = np.float64):
        if not rule.compiled:
            raise TypeError(f"rule '{rule.name}' has no compiled ask/tell kernels")
        n = np.asarray(theta).size
        self.rule = rule
        self.state = rule.initial_state(np.asarray(theta, dtype=np.float64).ravel())
        self.hp = rule.params.pack()
        self.streams = noise_streams(rng)
        rows = rule.noise_rows(n)
        self.noise = np.zeros((rows if rule.noise_in_network_dtype else 0, n), dtype=dtype)
        self.noise64 = np.zeros((0 if rule.noise_in_network_dtype else rows, n))
        self.population = np.zeros((rule.population_size(n), n), dtype=dtype)

    def ask(self) -> np.ndarray:
        """This generation's members (rows), in the search's dtype."""
        from rulelab.core.threads import single_threaded_blas

        fill_noise(self.streams, self.noise)
        fill_noise(self.streams, self.noise64)
        with single_threaded_blas(parallel=False):
            self.rule.ask_kernel(self.state, self.hp, self.noise, self.noise64, self.population)
        return self.population

    def tell(self, fitness: np.ndarray) -> None:
        """Move the search with the members' fitness (higher is better; NaN is worst)."""
        from rulelab.core.threads import single_threaded_blas

        with single_threaded_blas(parallel=False):  # CMA-ES's products: see rulelab.core.threads
            self.rule.tell_kernel(self.state, self.hp, self.population, self.noise, self.noise64,
                                  np.ascontiguousarray(fitness, dtype=np.float64))

    @property
    def mean(self) -> np.ndarray:
        return self.state[S_MEAN:S_MEAN + self.population.shape[1]]

    @property
    def sigma(self) -> float:
        return float(self.state[S_SIGMA])

    @property
    def generation(self) -> int:
        return int(self.state[S_GENERATION])

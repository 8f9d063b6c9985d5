"""The compiled engine of online rules: whole runs — epochs, shuffling, corruption, evaluation,
stop criteria and budgets — in one compiled call per chunk of epochs.

Python prepares the arrays once (:mod:`rulelab.build`), calls :func:`run_epochs` for a
chunk of epochs (a whole run when it is short; chunks of about a tenth of a second
otherwise, so that a progress bar moves and Ctrl-C is acted on between chunks, never
inside compiled code), and reads the metrics back from preallocated arrays.

Each engine is declared with an explicit signature whose first argument is a
first-class function type: that makes it hit Numba's on-disk cache in a new process
(an engine receiving an untyped dispatcher would be recompiled in every process).
Random numbers come from NumPy Generators passed in (shuffle orders, input
corruption): Numba draws NumPy's own sequences, so a run gives the numbers it gave
when these loops were Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit, typeof, types
from numba.np.random.random_methods import random_interval  # the draw NumPy's shuffle makes

from rulelab.core.clock import monotonic_ns
from rulelab.core.jit import ByDtype
from rulelab.core.layers import evaluate_dense, evaluate_into
from rulelab.core.layout import B_OFF as B_OFF_COLUMN, DENSE, KIND, TIE as TIE_COLUMN, W_OFF as W_OFF_COLUMN
from rulelab.rule import kernel_signature

# Metric codes: what a column of the metric table holds.
TRAIN_LOSS, TRAIN_ACCURACY = 0, 1
TEST_LOSS, TEST_ACCURACY = 2, 3
VALIDATION_LOSS, VALIDATION_ACCURACY = 4, 5
DENOISING_LOSS = 6  # the test loss on corrupted test inputs (clean targets)
SIGNAL = 7  # the rule's own training signal, summed over the epoch
WALL_SECONDS = 8  # training time so far (evaluation excluded)
FORWARD_PASSES = 9
STAGE = 10
FROM_SNAPSHOT = 11  # filled in afterwards from weight snapshots (angles to principal components)
EVALUATION_SETS = 4  # train, test, validation, corrupted test
# The full objective J = (1/N) Σ L_i + λ R(W) on set k (train 0, test 1, validation 2): code OBJECTIVE + k.
OBJECTIVE = 20

# Slots of the run state, kept across calls (float64).
R_EPOCH, R_FORWARD, R_SAMPLES, R_WALL, R_CRITERION_EPOCH, R_CRITERION_FORWARD, R_STATUS, R_LARGEST = range(8)
RUN_SLOTS = 8

# Statuses (R_STATUS).
RUNNING, BUDGET_SPENT, CRITERION_MET, DIVERGED_NAN, DIVERGED_BOUND = 0, 1, 2, 3, 4

# Integer settings (cfg).
C_BATCH, C_SHUFFLE, C_CORRUPTION, C_BUDGET_UNIT, C_BUDGET_AMOUNT, C_FINAL, C_SIGNAL_ZERO, C_EARLY, C_STAGE, \
    C_LOSS, C_SNAP_OFF, C_SNAP_LEN = range(12)
CFG_SLOTS = 12
# Float settings (fcfg): stop thresholds (NaN: not checked), wall budget, corruption, class threshold, and
# how long one call may train before it returns to Python (F_CALL_SECONDS; NaN: until its epochs are done).
F_STOP_TRAIN_ACCURACY, F_STOP_TEST_ACCURACY, F_STOP_TRAIN_LOSS, F_WALL_BUDGET, F_LEVEL, F_LOW, F_HIGH, \
    F_THRESHOLD, F_L2, F_STOP_OBJECTIVE, F_CALL_SECONDS = range(11)
FCFG_SLOTS = 11

NO_CORRUPTION, BITFLIP, MASK, GAUSSIAN = 0, 1, 2, 3
CORRUPTION_CODES = {"bitflip": BITFLIP, "mask": MASK, "gaussian": GAUSSIAN}
NO_BUDGET, BUDGET_SAMPLES, BUDGET_FORWARD_PASSES, BUDGET_WALL_SECONDS = 0, 1, 2, 3
BUDGET_CODES = {"samples": BUDGET_SAMPLES, "forward_passes": BUDGET_FORWARD_PASSES,
                "evaluations": BUDGET_FORWARD_PASSES,  # of a black-box objective: one forward pass each
                "wall_seconds": BUDGET_WALL_SECONDS}

# Weights this large mean the rule is running away (e.g. Hebb without bounds), long before float64
# overflows; stopping here reports it as diverged instead of as a finished run.
DIVERGENCE_LIMIT = 1e12


@njit(cache=True, inline="always")
def rows_within_budget(cfg, fcfg, run, rows, per_row):
    """How many of the next ``rows`` training rows the budget still allows (0: spent)."""
    unit = cfg[C_BUDGET_UNIT]
    if unit == NO_BUDGET:
        return rows
    if unit == BUDGET_WALL_SECONDS:
        return rows if run[R_WALL] < fcfg[F_WALL_BUDGET] else 0
    used = np.int64(run[R_SAMPLES]) if unit == BUDGET_SAMPLES else np.int64(run[R_FORWARD])
    cost = 1 if unit == BUDGET_SAMPLES else per_row
    left = cfg[C_BUDGET_AMOUNT] - used
    return max(0, min(rows, -(-left // cost)))


@njit(cache=True, inline="always")
def visiting_order(rng, order):
    """order ← a fresh permutation of 0 … n−1, in place: exactly NumPy's Generator.permutation(n)
    (Fisher–Yates from the end, j drawn by the bit generator's random_interval(i)), without
    allocating an array every epoch (Numba's own Generator.shuffle allocates)."""
    for i in range(order.shape[0]):
        order[i] = i
    for i in range(order.shape[0] - 1, 0, -1):
        j = np.int64(random_interval(rng.bit_generator, np.uint64(i)))
        order[i], order[j] = order[j], order[i]


@njit(cache=True, inline="always")
def gather_rows(source, order, out):
    """out[i] = source[order[i]], element by element (no row views)."""
    for i in range(order.shape[0]):
        r = order[i]
        for j in range(source.shape[1]):
            out[i, j] = source[r, j]


@njit(cache=True, inline="always")
def copy_rows_in_order(source, out):
    """out[:] = source, element by element (no temporary array)."""
    for i in range(source.shape[0]):
        for j in range(source.shape[1]):
            out[i, j] = source[i, j]


@njit(cache=True, inline="always")
def weight_penalty(params, layout):
    """R(W) = Σ_l Σ W_l²: every layer's weights, biases excluded, a tied decoder's copy counted once (with its
    encoder) — the penalty whose gradient 2λW the gradient rules add (rulelab.core.gradient.apply_gradient)."""
    total = 0.0
    for layer in range(layout.shape[0]):
        if layout[layer, TIE_COLUMN] >= 0:
            continue
        for p in range(layout[layer, W_OFF_COLUMN], layout[layer, B_OFF_COLUMN]):
            total += params[p] * params[p]
    return total


@njit(cache=True, inline="always")
def sets_read(columns):
    """Bit k set when a column reads evaluation set k: its loss or accuracy (code 2k or 2k + 1) or its
    objective (OBJECTIVE + k).  Made once per call: the columns do not change between epochs."""
    mask = 0
    for c in range(columns.shape[0]):
        code = columns[c]
        if 0 <= code < 2 * EVALUATION_SETS:
            mask |= 1 << (code // 2)
        elif OBJECTIVE <= code < OBJECTIVE + EVALUATION_SETS:
            mask |= 1 << (code - OBJECTIVE)
    return mask


@njit(cache=True, inline="always")
def measure(params, layout, act_args, EX, ET, EL, loss_code, threshold, columns, row, z_buf, a_buf, l2):
    """Fill the evaluation columns of one metric row: loss, accuracy and J = loss + λ R(W) on each set a column
    asks for (λ = ``l2``)."""
    measure_by(evaluate_into, params, layout, act_args, EX, ET, EL, loss_code, threshold, columns, row, z_buf,
               a_buf, l2, sets_read(columns))


@njit(cache=True, inline="always")
def measure_by(evaluate_fn, params, layout, act_args, EX, ET, EL, loss_code, threshold, columns, row, z_buf, a_buf,
               l2, sets):
    """:func:`measure` of the sets whose bit is set in ``sets`` (:func:`sets_read`), each evaluated by
    ``evaluate_fn`` (:func:`evaluate_into`, or :func:`evaluate_dense` in the engine of dense nets)."""
    penalty = -1.0
    for k in range(EVALUATION_SETS):
        if (sets >> k) & 1 == 0 or EX[k].shape[0] == 0:
            continue
        loss, correct = evaluate_fn(params, layout, act_args, EX[k], ET[k], EL[k], loss_code, threshold,
                                    z_buf, a_buf)
        for c in range(columns.shape[0]):
            if columns[c] == 2 * k:
                row[c] = loss
            elif columns[c] == 2 * k + 1:
                row[c] = correct / EX[k].shape[0]
            elif columns[c] == OBJECTIVE + k:
                if penalty < 0.0:
                    penalty = weight_penalty(params, layout)
                row[c] = loss + l2 * penalty


@njit(cache=True, inline="always")
def criteria_declared(fcfg):
    """Whether any stop criterion that :func:`criterion_met` checks is declared (a threshold that is not NaN)."""
    return not (np.isnan(fcfg[F_STOP_TRAIN_ACCURACY]) and np.isnan(fcfg[F_STOP_TEST_ACCURACY])
                and np.isnan(fcfg[F_STOP_TRAIN_LOSS]))


@njit(cache=True, inline="always")
def criterion_met(fcfg, columns, row):
    """Any declared stop criterion met by this row (a criterion whose metric is not measured is skipped)."""
    met = False
    for c in range(columns.shape[0]):
        code = columns[c]
        if code == TRAIN_ACCURACY and not np.isnan(fcfg[F_STOP_TRAIN_ACCURACY]):
            met = met or row[c] >= fcfg[F_STOP_TRAIN_ACCURACY]
        elif code == TEST_ACCURACY and not np.isnan(fcfg[F_STOP_TEST_ACCURACY]):
            met = met or row[c] >= fcfg[F_STOP_TEST_ACCURACY]
        elif code == TRAIN_LOSS and not np.isnan(fcfg[F_STOP_TRAIN_LOSS]):
            met = met or row[c] <= fcfg[F_STOP_TRAIN_LOSS]
    return met


@njit(cache=True, inline="always")
def divergence(params, signal, run):
    """RUNNING, or why the weights count as diverged (NaN/infinite; |w| beyond DIVERGENCE_LIMIT)."""
    if not np.isfinite(signal):
        return DIVERGED_NAN
    largest = 0.0
    for p in range(params.shape[0]):
        v = params[p]
        if not np.isfinite(v):
            return DIVERGED_NAN
        if abs(v) > largest:
            largest = abs(v)
    if largest > DIVERGENCE_LIMIT:
        run[R_LARGEST] = largest
        return DIVERGED_BOUND
    return RUNNING


@njit(cache=True, inline="always")
def corrupt_rows(Xe, rows, kind, level, low, high, rng):
    """Corrupt the first ``rows`` rows of Xe in place: flip a fraction of inputs (x → low + high − x), mask
    them to ``low``, or add Gaussian noise of std ``level`` (the same draws as NumPy's Generator)."""
    d = Xe.shape[1]
    # One draw at a time, row by row: the sequence NumPy's rng.normal(0, level, (rows, d)) and
    # rng.random((rows, d)) draw (tested), without allocating the block.
    if kind == GAUSSIAN:
        for i in range(rows):
            for j in range(d):
                Xe[i, j] = Xe[i, j] + rng.normal(0.0, level)
        return
    flip = Xe.dtype.type(low + high)  # as NumPy computes low + high − x: the constant in the data's dtype
    masked = Xe.dtype.type(low)
    for i in range(rows):
        for j in range(d):
            if rng.random() < level:
                Xe[i, j] = flip - Xe[i, j] if kind == BITFLIP else masked


@njit(cache=True, inline="always")
def record_row(evaluate_fn, params, layout, act_args, EX, ET, EL, cfg, fcfg, run, columns, sets, row, signal,
               snap, snap_row, z_buf, a_buf):
    """One row of the metric table after an epoch (and one weight snapshot, if asked for); ``sets`` as made by
    :func:`sets_read`."""
    measure_by(evaluate_fn, params, layout, act_args, EX, ET, EL, cfg[C_LOSS], fcfg[F_THRESHOLD], columns, row,
               z_buf, a_buf, fcfg[F_L2], sets)
    for c in range(columns.shape[0]):
        code = columns[c]
        if code == SIGNAL:
            row[c] = signal
        elif code == WALL_SECONDS:
            row[c] = run[R_WALL]
        elif code == FORWARD_PASSES:
            row[c] = run[R_FORWARD]
        elif code == STAGE:
            row[c] = cfg[C_STAGE]
    length = cfg[C_SNAP_LEN]
    if length > 0:
        offset = cfg[C_SNAP_OFF]
        for i in range(length):
            snap[snap_row, i] = params[offset + i]


@njit(cache=True, inline="always")
def run_epochs_by(evaluate_fn, update, params, layout, act_args, state, hp, X, Y, Xe, Ye, order, shuffle_rng,
                  noise_rng, EX, ET, EL, columns, cfg, fcfg, run, epochs, out, snap, z_buf, a_buf):
    """Up to ``epochs`` epochs of one stage, each set evaluated by ``evaluate_fn``; a row of ``out`` (and
    ``snap``) per epoch; returns the rows written.

    ``order`` is scratch for the visiting order (n rows); the row of epoch 0 (before training) is
    :func:`initial_row`'s.  Per epoch: visiting order (a fresh permutation when shuffling), rows the budget allows,
    corruption (denoising), one ``update`` call per minibatch (timed), evaluation, then the
    checks: divergence, and in the final stage the stop criteria.  Stops early by setting
    run[R_STATUS]; counters in ``run`` carry over to the next call.  Returns early (status still
    RUNNING) once it has trained for fcfg[F_CALL_SECONDS]: Python sizes a call generously and the
    clock, not a guess of an epoch's cost, decides when it hears from the run again.
    """
    n = X.shape[0]
    written = 0
    batch = cfg[C_BATCH]
    copy_rows = cfg[C_SHUFFLE] != 0 or cfg[C_CORRUPTION] != NO_CORRUPTION
    call_ns = -1 if np.isnan(fcfg[F_CALL_SECONDS]) else np.int64(fcfg[F_CALL_SECONDS] * 1e9)
    sets = sets_read(columns)
    criteria = criteria_declared(fcfg)
    called = monotonic_ns()
    for _ in range(epochs):
        if cfg[C_SHUFFLE] != 0:
            visiting_order(shuffle_rng, order)
            gather_rows(X, order, Xe)
            gather_rows(Y, order, Ye)
        elif copy_rows:
            copy_rows_in_order(X, Xe)
            copy_rows_in_order(Y, Ye)
        rows = rows_within_budget(cfg, fcfg, run, n, 1)
        if rows == 0:
            run[R_STATUS] = BUDGET_SPENT
            break
        Xv = Xe[:rows] if copy_rows else X[:rows]
        Yv = Ye[:rows] if copy_rows else Y[:rows]
        if cfg[C_CORRUPTION] != NO_CORRUPTION:
            corrupt_rows(Xe, rows, cfg[C_CORRUPTION], fcfg[F_LEVEL], fcfg[F_LOW], fcfg[F_HIGH], noise_rng)
        start = monotonic_ns()
        signal = 0.0
        for lo in range(0, rows, batch):
            signal += update(params, layout, act_args, state, hp, Xv, Yv, lo, min(lo + batch, rows))
        trained = monotonic_ns()
        run[R_WALL] += (trained - start) * 1e-9
        run[R_FORWARD] += rows
        run[R_SAMPLES] += rows
        run[R_EPOCH] += 1
        row = out[written]
        record_row(evaluate_fn, params, layout, act_args, EX, ET, EL, cfg, fcfg, run, columns, sets, row, signal,
                   snap, written, z_buf, a_buf)
        written += 1
        status = divergence(params, signal, run)
        if status != RUNNING:
            run[R_STATUS] = status
            break
        if cfg[C_FINAL] == 0:
            continue  # stop criteria judge the finished pipeline only
        met = (criteria and criterion_met(fcfg, columns, row)) or (cfg[C_SIGNAL_ZERO] != 0 and signal == 0.0)
        if met and run[R_CRITERION_EPOCH] < 0:
            run[R_CRITERION_EPOCH] = run[R_EPOCH]
            run[R_CRITERION_FORWARD] = run[R_FORWARD]
            if cfg[C_EARLY] != 0:
                run[R_STATUS] = CRITERION_MET
                break
        if call_ns >= 0 and trained - called >= call_ns:
            break
    return written


def _run_epochs(update, params, layout, act_args, state, hp, X, Y, Xe, Ye, order, shuffle_rng, noise_rng, EX, ET,
                EL, columns, cfg, fcfg, run, epochs, out, snap, z_buf, a_buf):
    """:func:`run_epochs_by` for a net of any layer kinds."""
    return run_epochs_by(evaluate_into, update, params, layout, act_args, state, hp, X, Y, Xe, Ye, order,
                         shuffle_rng, noise_rng, EX, ET, EL, columns, cfg, fcfg, run, epochs, out, snap, z_buf, a_buf)


def _run_epochs_dense(update, params, layout, act_args, state, hp, X, Y, Xe, Ye, order, shuffle_rng, noise_rng,
                      EX, ET, EL, columns, cfg, fcfg, run, epochs, out, snap, z_buf, a_buf):
    """:func:`run_epochs_by` for a net whose layers are all dense (the same operations: the same numbers)."""
    return run_epochs_by(evaluate_dense, update, params, layout, act_args, state, hp, X, Y, Xe, Ye, order,
                         shuffle_rng, noise_rng, EX, ET, EL, columns, cfg, fcfg, run, epochs, out, snap, z_buf, a_buf)


def _initial_row(params, layout, act_args, EX, ET, EL, cfg, fcfg, run, columns, row, snap, z_buf, a_buf):
    """The metric row of epoch 0 (before training); returns whether a stop criterion is already met."""
    record_row(evaluate_into, params, layout, act_args, EX, ET, EL, cfg, fcfg, run, columns, sets_read(columns), row,
               0.0, snap, 0, z_buf, a_buf)
    return criterion_met(fcfg, columns, row)


def _signatures(dtype: str) -> tuple[types.Signature, types.Signature]:
    """The explicit signatures of :func:`run_epochs` and :func:`initial_row` for parameters of ``dtype``."""
    f = types.float32 if dtype == "float32" else types.float64
    vec, mat = types.Array(f, 1, "C"), types.Array(f, 2, "C")
    i64vec, i64mat, f64vec, f64mat = (types.Array(types.int64, 1, "C"), types.Array(types.int64, 2, "C"),
                                      types.Array(types.float64, 1, "C"), types.Array(types.float64, 2, "C"))
    sets = (types.UniTuple(mat, EVALUATION_SETS), types.UniTuple(mat, EVALUATION_SETS),
            types.UniTuple(i64vec, EVALUATION_SETS))
    generator = typeof(np.random.default_rng(0))
    run_sig = types.int64(types.FunctionType(kernel_signature(dtype)), vec, i64mat, f64vec, vec, f64vec, mat, mat,
                          mat, mat, i64vec, generator, generator, *sets, i64vec, i64vec, f64vec, f64vec, types.int64,
                          f64mat, mat, vec, vec)
    initial_sig = types.boolean(vec, i64mat, f64vec, *sets, i64vec, f64vec, f64vec, i64vec, f64vec, mat, vec, vec)
    return run_sig, initial_sig


# Explicit signatures (a kernel of the wrong arity fails with a signature mismatch), made per
# dtype on first use: importing the engine loads nothing.
# The engine of dense nets is compiled without Numba's reference counting: with it, every view the loops
# make (a minibatch's rows, a metric row, a layer's slice of a buffer in the evaluation) costs two atomic
# operations — 0.4 µs of an XOR epoch's 1.2 µs (measured).  Nets with other kinds need it: conv layers
# allocate their patch matrices, and code without reference counting cannot call code that allocates.
run_epochs = ByDtype(_run_epochs, lambda dtype: _signatures(dtype)[0], dtype_argument=1)
run_epochs_dense = ByDtype(_run_epochs_dense, lambda dtype: _signatures(dtype)[0], dtype_argument=1, _nrt=False)
initial_row = ByDtype(_initial_row, lambda dtype: _signatures(dtype)[1], dtype_argument=0)


def engine_for(layout: np.ndarray) -> ByDtype:
    """The engine that runs a net of this layout: :data:`run_epochs_dense` when every layer is dense."""
    return run_epochs_dense if bool(np.all(layout[:, KIND] == DENSE)) else run_epochs


def _engine_signature(dtype: str) -> types.Signature:
    ksig = kernel_signature(dtype)
    f = types.float32 if dtype == "float32" else types.float64
    return types.float64(types.FunctionType(ksig), types.Array(f, 1, "C"), types.Array(types.int64, 2, "C"),
                         types.Array(types.float64, 1, "C"), types.Array(f, 1, "C"),
                         types.Array(types.float64, 1, "C"), types.Array(f, 2, "C"), types.Array(f, 2, "C"),
                         types.int64)


def _train_epoch(update, params, layout, act_args, state, hp, X, Y, batch_size):
    """One pass over (X, Y) in row order, one ``update`` call per minibatch; returns Σ signal."""
    total = 0.0
    n = X.shape[0]
    for start in range(0, n, batch_size):
        total += update(params, layout, act_args, state, hp, X, Y, start, min(start + batch_size, n))
    return total


_train_epoch_compiled = ByDtype(_train_epoch, _engine_signature, dtype_argument=1)


def train_epoch(update, params: np.ndarray, layout: np.ndarray, act_args: np.ndarray,
                state: np.ndarray, hp: np.ndarray, X: np.ndarray, Y: np.ndarray,
                batch_size: int) -> float:
    """One epoch of an online rule over (X, Y), already in the order to visit (tests, the contract kit)."""
    from rulelab.core.memory import keep_freed_memory

    keep_freed_memory()
    return float(_train_epoch_compiled(update, params, layout, act_args, state, hp, X, Y, int(batch_size)))

"""Running an online plan: stage after stage, each in compiled chunks of epochs.

Python touches the run only at its start, between chunks (progress, Ctrl-C) and at its
end.  A chunk lasts at most about :data:`rulelab.run.interrupts.CHUNK_SECONDS` (the engine
watches the clock); a short run is two calls: the row of epoch 0, then every epoch.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from rulelab.build import Plan, StagePlan, pc_angles
from rulelab.core import engine as E
from rulelab.core import kernels as K
from rulelab.core.memory import keep_freed_memory
from rulelab.run.interrupts import CHUNK_SECONDS, Interrupted, next_chunk
from rulelab.run.record import DIVERGED, MetricBlock, RunRecord

# Epochs a call may take at most (rows of its metric block); the engine returns sooner, after
# CHUNK_SECONDS of training, when epochs are slow.
MOST_EPOCHS_PER_CALL = 1 << 14
FIRST_SNAPSHOT_CHUNK = 8


def engine_call(plan: Plan, stage: StagePlan):
    """The compiled engine for this plan's net (dense nets have their own) and the stage's kernel.

    The kernel goes in as its dispatcher: Numba then calls it by its native entry point, through which an
    exception the kernel raises reaches Python (a bare address — the wrapper-address protocol, 60 µs
    cheaper a call — gives the C entry point, where Numba only prints the exception and carries on)."""
    return E.engine_for(plan.network.layout), stage.kernel


def call_settings(plan: Plan, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The engine settings of stage ``index``, with the time a call may train before returning."""
    cfg, fcfg = plan.settings(index)
    fcfg[E.F_CALL_SECONDS] = CHUNK_SECONDS
    return cfg, fcfg


def _codes(columns: list[tuple[str, int]]) -> tuple[tuple[str, ...], np.ndarray]:
    return tuple(name for name, _ in columns), np.asarray([code for _, code in columns], dtype=np.int64)


class _Buffers:
    """Per-run arrays the engine writes into: visiting order, evaluation scratch, weight snapshots."""

    def __init__(self, plan: Plan):
        net = plan.network
        X, Y, _ = plan.sets.train
        self.Xe, self.Ye = np.empty_like(X), np.empty_like(Y)
        self.order = np.empty(X.shape[0], dtype=np.int64)
        self.z = np.empty(net.n_units, dtype=net.np_dtype)
        self.a = np.empty(net.n_units, dtype=net.np_dtype)
        self.plan = plan

    def snapshots(self, rows: int, dtype: np.dtype, stage: int = 0) -> np.ndarray:
        return np.zeros((rows, self.plan.snapshot_range(stage)[1]), dtype=dtype)


def keep_filter_snapshots(plan: Plan, record: RunRecord, stage: int, epochs: np.ndarray, snaps: np.ndarray) -> None:
    """A Hebbian stage's conv kernels after each epoch, kept as artifacts (figure: filters as they form)."""
    layer = plan.filter_layer(stage) if plan.components is None and plan.stages else None
    if layer is None or not len(epochs):
        return
    old = record.artifacts.get("hebbian_filters")
    record.artifacts["hebbian_filters"] = snaps.copy() if old is None else np.vstack([old, snaps])
    old_epochs = record.artifacts.get("hebbian_filters_epochs", np.zeros(0, dtype=np.int64))
    record.artifacts["hebbian_filters_epochs"] = np.concatenate([old_epochs, epochs])
    row = plan.network.layout[layer]
    record.artifacts["hebbian_filters_shape"] = np.asarray([row[K.C_OUT], row[K.C_IN], row[K.KH], row[K.KW]])
    record.artifacts["hebbian_filters_layer"] = np.asarray([layer, stage])


def fill_from_snapshots(plan: Plan, block: MetricBlock, snaps: np.ndarray) -> None:
    """The columns measured on weight snapshots: angles to the principal components, largest ‖w‖."""
    if plan.components is None:
        return
    n_in, n_out = plan.network.sizes[0], plan.network.sizes[1]
    pc_columns = [c for c, name in enumerate(block.names) if name.startswith("pc_angle_")]
    norm_column = block.names.index("weight_norm")
    for i in range(len(block.epochs)):
        W = snaps[i].astype(np.float64).reshape(n_out, n_in)
        block.values[i, pc_columns] = pc_angles(W, plan.components)
        block.values[i, norm_column] = float(np.linalg.norm(W, axis=1).max())


def _initial_block(plan: Plan, params: np.ndarray, run: np.ndarray,
                   buffers: _Buffers) -> tuple[MetricBlock, bool, np.ndarray]:
    """Epoch 0: the evaluation before training; whether a stop criterion is met already; its weight snapshot."""
    net = plan.network
    names, codes = _codes(plan.columns + [("wall_seconds", E.WALL_SECONDS), ("forward_passes", E.FORWARD_PASSES)])
    cfg, fcfg = plan.settings(0)
    values = np.zeros((1, len(codes)))
    snaps = buffers.snapshots(1, net.np_dtype)
    # Its own compiled function: it takes no kernel and no generators, whose conversion makes a call of the
    # engine cost ~65 µs against ~5 µs (measured).
    met = E.initial_row(params, net.layout, net.act_args, *_sets(plan), cfg, fcfg, run, codes, values[0], snaps,
                        buffers.z, buffers.a)
    block = MetricBlock(np.zeros(1, dtype=np.int64), names, values)
    fill_from_snapshots(plan, block, snaps)
    return block, bool(met), snaps


def _sets(plan: Plan) -> tuple:
    return plan.sets.X, plan.sets.T, plan.sets.labels


def _stage_columns(plan: Plan, stage: StagePlan) -> list[tuple[str, int]]:
    columns = plan.columns + [(stage.signal, E.SIGNAL), ("wall_seconds", E.WALL_SECONDS),
                              ("forward_passes", E.FORWARD_PASSES)]
    if len(plan.stages) > 1:
        columns.append(("stage", E.STAGE))
    return columns


def _run_stage(plan: Plan, index: int, params: np.ndarray, run: np.ndarray, buffers: _Buffers,
               record: RunRecord, progress: Callable[[int], None], interrupted: Callable[[], bool]) -> None:
    """One stage's epochs, in chunks; metric blocks go straight into the record."""
    net = plan.network
    stage = plan.stages[index]
    names, codes = _codes(_stage_columns(plan, stage))
    cfg, fcfg = call_settings(plan, index)
    X, Y, _ = plan.sets.train
    engine, kernel = engine_call(plan, stage)
    # Weight snapshots take a row per epoch too: before an epoch's cost is known, a stage that keeps them
    # starts small.
    remaining = stage.epochs
    chunk = MOST_EPOCHS_PER_CALL if plan.snapshot_range(index)[1] == 0 else FIRST_SNAPSHOT_CHUNK
    run[E.R_STATUS] = E.RUNNING  # a spent budget ends each stage at its first epoch, as it ended this one
    while remaining > 0 and run[E.R_STATUS] == E.RUNNING:
        n = min(chunk, remaining)
        values = np.empty((n, len(codes)))
        snaps = buffers.snapshots(n, net.np_dtype, index)
        first = int(run[E.R_EPOCH]) + 1
        started = time.perf_counter()
        written = int(engine(kernel, params, net.layout, net.act_args, stage.state, stage.hp, X, Y, buffers.Xe,
                             buffers.Ye, buffers.order, plan.shuffle_rng, plan.noise_rng, *_sets(plan), codes, cfg,
                             fcfg, run, n, values, snaps, buffers.z, buffers.a))
        elapsed = time.perf_counter() - started
        if written:
            block = MetricBlock(np.arange(first, first + written, dtype=np.int64), names, values[:written])
            fill_from_snapshots(plan, block, snaps)
            keep_filter_snapshots(plan, record, index, block.epochs, snaps[:written])
            record.blocks.append(block)
            _copy_counters(run, record)
            progress(written)
        remaining -= written
        # A run that has nothing left to do is finished, not interrupted: the runner stops before the next one.
        if remaining > 0 and run[E.R_STATUS] == E.RUNNING and interrupted():
            raise Interrupted
        # Slow epochs (a big net) stop a call by the clock; this keeps the next block no larger than needed.
        chunk = next_chunk(elapsed / max(written, 1), 2 * CHUNK_SECONDS, MOST_EPOCHS_PER_CALL)


def _copy_counters(run: np.ndarray, record: RunRecord) -> None:
    record.epochs_run = int(run[E.R_EPOCH])
    record.forward_passes = int(run[E.R_FORWARD])
    record.samples = int(run[E.R_SAMPLES])
    record.wall_seconds = float(run[E.R_WALL])
    if run[E.R_CRITERION_EPOCH] >= 0:
        record.criterion_epoch = int(run[E.R_CRITERION_EPOCH])
        record.criterion_forward_passes = int(run[E.R_CRITERION_FORWARD])


def divergence_message(run: np.ndarray) -> str:
    if run[E.R_STATUS] == E.DIVERGED_NAN:
        return "weights became NaN or infinite"
    return f"weights grew without bound (|w| = {run[E.R_LARGEST]:.3g} > {E.DIVERGENCE_LIMIT:g})"


def train_online(plan: Plan, record: RunRecord, progress: Callable[[int], None],
                 interrupted: Callable[[], bool]) -> bool:
    """Train stage after stage on the same weights; False when the run diverged (nothing more to do)."""
    keep_freed_memory()  # minibatches reuse their freed arrays instead of faulting new pages in
    params = np.ascontiguousarray(plan.params, dtype=plan.network.np_dtype).copy()
    record.params = params
    run = np.zeros(E.RUN_SLOTS)
    run[E.R_CRITERION_EPOCH] = -1.0
    buffers = _Buffers(plan)
    block, met, snaps = _initial_block(plan, params, run, buffers)
    keep_filter_snapshots(plan, record, 0, block.epochs, snaps)
    record.blocks.append(block)
    stop_now = False
    if met:
        record.criterion_epoch, record.criterion_forward_passes = 0, 0
        run[E.R_CRITERION_EPOCH], run[E.R_CRITERION_FORWARD] = 0.0, 0.0
        stop_now = plan.train.stop.early
    for index, stage in enumerate(plan.stages):
        if stop_now:
            break
        _run_stage(plan, index, params, run, buffers, record, progress, interrupted)
        _copy_counters(run, record)
        status = run[E.R_STATUS]
        if status in (E.DIVERGED_NAN, E.DIVERGED_BOUND):
            record.status = DIVERGED
            where = f" (stage {index + 1}, {stage.rule.name})" if len(plan.stages) > 1 else ""
            record.message = f"{divergence_message(run)} in epoch {record.epochs_run}{where}"
            return False
        if status == E.CRITERION_MET:
            break
    return True

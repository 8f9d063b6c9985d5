"""Running a population plan: whole epochs of generations in compiled chunks (compiled strategies),
or one generation per Python call (strategies written in Python, for prototyping)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from rulelab.build import Plan
from rulelab.core import engine as E
from rulelab.core import population as PP
from rulelab.run.interrupts import CHUNK_SECONDS, next_chunk
from rulelab.run.online import MOST_EPOCHS_PER_CALL, Interrupted, divergence_message
from rulelab.run.record import DIVERGED, MetricBlock, RunRecord
from rulelab.tasks.objective import initial_objective_row

# A call returns after the epoch in which it has evolved for CALL_SECONDS (a progress bar moves, Ctrl-C is
# heard), or after MOST_EPOCHS_PER_CALL epochs (the rows of its metric block).
CALL_SECONDS = CHUNK_SECONDS

EPOCH_COLUMNS = [("fitness_best", PP.FITNESS_BEST), ("fitness_mean", PP.FITNESS_MEAN),
                 ("fitness_std", PP.FITNESS_STD), ("sigma", PP.SIGMA), ("generations", PP.GENERATIONS),
                 ("nan_fitness", PP.NAN_FITNESS), ("wall_seconds", E.WALL_SECONDS),
                 ("forward_passes", E.FORWARD_PASSES)]


class _Arrays:
    """What the engine writes into during a run: population, noise, fitness, the minibatch, scratch."""

    def __init__(self, plan: Plan, n_params: int):
        rule, net = plan.rule, plan.network
        dtype = net.np_dtype
        X, T, labels = plan.sets.train
        self.size = rule.population_size(n_params)
        rows = rule.noise_rows(n_params)
        self.noise = np.zeros((rows if rule.noise_in_network_dtype else 0, n_params), dtype=dtype)
        self.noise64 = np.zeros((0 if rule.noise_in_network_dtype else rows, n_params))
        self.population = np.zeros((self.size, n_params), dtype=dtype)
        self.fitness = np.zeros(self.size)
        batch = min(rule.params.fitness_batch or X.shape[0], X.shape[0])
        self.batch = max(batch, 1)
        self.Xb = np.zeros((self.batch, X.shape[1]), dtype=dtype)
        self.Tb = np.zeros((self.batch, T.shape[1]), dtype=dtype)
        self.Lb = np.zeros(self.batch if labels.size else 0, dtype=np.int64)
        self.z = np.empty(net.n_units, dtype=dtype)
        self.a = np.empty(net.n_units, dtype=dtype)
        self.counts = np.zeros(2, dtype=np.int64)  # generations, members with a NaN fitness
        # A black-box objective's rotation and shift (see rulelab.core.objectives); 1 × 0 for a network.
        self.transform = plan.objective.transform if plan.objective is not None else np.zeros((1, 0))


def _settings(plan: Plan, arrays: _Arrays) -> tuple[np.ndarray, np.ndarray]:
    cfg, fcfg = plan.settings(0)
    cfg = np.concatenate([cfg, np.zeros(PP.POPULATION_CFG_SLOTS - E.CFG_SLOTS, dtype=np.int64)])
    rule = plan.rule
    cfg[PP.C_FITNESS] = PP.FITNESS_ACCURACY if rule.params.fitness == "accuracy" else PP.FITNESS_LOSS
    cfg[PP.C_FITNESS_BATCH] = arrays.batch
    n_params = arrays.population.shape[1]
    cfg[PP.C_PARALLEL] = int(PP.parallel_worthwhile(arrays.size, arrays.batch, n_params)) \
        if plan.objective is None else 0
    cfg[PP.C_OBJECTIVE] = plan.objective.code if plan.objective is not None else 0
    cfg[PP.C_NOISE_ROWS] = arrays.noise.shape[0]
    cfg[PP.C_NOISE64_ROWS] = arrays.noise64.shape[0]
    cfg[PP.C_POPULATION] = arrays.size
    return cfg, fcfg


def train_population(plan: Plan, record: RunRecord, progress: Callable[[int], None],
                     interrupted: Callable[[], bool]) -> bool:
    """Evolve the whole parameter vector with a compiled strategy; False when the run diverged."""
    net, rule = plan.network, plan.rule
    params = np.ascontiguousarray(plan.params, dtype=net.np_dtype).copy()
    record.params = params
    n_params = params.size
    state = rule.initial_state(params.astype(np.float64))
    hp = rule.params.pack()
    streams = PP.noise_streams(plan.state_rng)
    arrays = _Arrays(plan, n_params)
    cfg, fcfg = _settings(plan, arrays)
    fcfg[E.F_CALL_SECONDS] = CALL_SECONDS
    run = np.zeros(PP.POPULATION_RUN_SLOTS)
    run[E.R_CRITERION_EPOCH] = -1.0
    sets = (plan.sets.X, plan.sets.T, plan.sets.labels)
    X, T, labels = plan.sets.train

    names0 = tuple(name for name, _ in plan.columns) + ("wall_seconds", "forward_passes")
    codes0 = np.asarray([c for _, c in plan.columns] + [E.WALL_SECONDS, E.FORWARD_PASSES], dtype=np.int64)
    values0 = np.zeros((1, len(codes0)))
    met = E.initial_row(params, net.layout, net.act_args, *sets, cfg[:E.CFG_SLOTS], fcfg, run, codes0, values0[0],
                        np.zeros((1, 0), dtype=net.np_dtype), arrays.z, arrays.a)
    if plan.objective is not None:
        run[PP.R_OBJECTIVE_BEST] = initial_objective_row(names0, values0[0], plan.objective, params)
        stop = plan.train.stop
        met = stop is not None and stop.objective is not None and run[PP.R_OBJECTIVE_BEST] <= stop.objective
    record.blocks.append(MetricBlock(np.zeros(1, dtype=np.int64), names0, values0))
    if met:
        record.criterion_epoch, record.criterion_forward_passes = 0, 0
        run[E.R_CRITERION_EPOCH], run[E.R_CRITERION_FORWARD] = 0.0, 0.0
        if plan.train.stop.early:
            return True

    columns = plan.columns + EPOCH_COLUMNS
    names = tuple(name for name, _ in columns)
    codes = np.asarray([c for _, c in columns], dtype=np.int64)
    remaining, chunk = plan.train.epochs, MOST_EPOCHS_PER_CALL
    while remaining > 0 and run[E.R_STATUS] == E.RUNNING:
        n = min(chunk, remaining)
        values = np.empty((n, len(codes)))
        first = int(run[E.R_EPOCH]) + 1
        started = time.perf_counter()
        written = int(PP.run_generations(rule.ask_kernel, rule.tell_kernel, params, net.layout, net.act_args, state,
                                         hp, X, T, labels, streams, plan.shuffle_rng, arrays.noise, arrays.noise64,
                                         arrays.population, arrays.fitness, arrays.Xb, arrays.Tb, arrays.Lb, *sets,
                                         codes, cfg, fcfg, run, arrays.counts, n, values, arrays.z, arrays.a,
                                         arrays.transform))
        elapsed = time.perf_counter() - started
        if written:
            record.blocks.append(MetricBlock(np.arange(first, first + written, dtype=np.int64), names,
                                             values[:written]))
            _copy_counters(run, record)
            progress(written)
        remaining -= written
        # A run that has nothing left to do is finished, not interrupted: the runner stops before the next one.
        if remaining > 0 and run[E.R_STATUS] == E.RUNNING and interrupted():
            raise Interrupted
        # Slow epochs stop a call by the clock; this keeps the next block no larger than needed.
        chunk = next_chunk(elapsed / max(written, 1), 2 * CALL_SECONDS, MOST_EPOCHS_PER_CALL)
    _copy_counters(run, record)
    if run[E.R_STATUS] in (E.DIVERGED_NAN, E.DIVERGED_BOUND):
        record.status = DIVERGED
        record.message = f"{divergence_message(run)} in epoch {record.epochs_run}"
        return False
    if arrays.counts[1]:
        record.message = f"{int(arrays.counts[1])} members had a NaN fitness (ranked worst)"
    return True


def _copy_counters(run: np.ndarray, record: RunRecord) -> None:
    record.epochs_run = int(run[E.R_EPOCH])
    record.forward_passes = int(run[E.R_FORWARD])
    record.samples = int(run[E.R_SAMPLES])
    record.wall_seconds = float(run[E.R_WALL])
    if run[E.R_CRITERION_EPOCH] >= 0:
        record.criterion_epoch = int(run[E.R_CRITERION_EPOCH])
        record.criterion_forward_passes = int(run[E.R_CRITERION_FORWARD])

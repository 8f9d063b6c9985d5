"""Runs of task kind sequence: a recurrent net trained by a sequence rule (BPTT, e-prop, …) or by an evolution
strategy (forward passes only), whole epochs in compiled calls: Python touches a run between chunks of about
CHUNK_SECONDS (progress, Ctrl-C) only.

Seeds split as everywhere ([seed, 0] data and split, [seed, 1] initial weights, [seed, 2] the rule's random
matrices or ES noise, [seed, 3] visiting orders), so every rule sees the same sequences, initial weights and
orders: comparisons are paired.  One forward pass is one sequence through the net (all its steps).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from rulelab.build import EvaluationSets, Plan, seeded_rng
from rulelab.data.sequences import SequenceSet, make_sequences
from rulelab.run.interrupts import Interrupted, next_chunk
from rulelab.run.record import DIVERGED, MetricBlock, RunRecord
from rulelab.tasks import recurrent as R
from rulelab.tasks import sequence as S
from rulelab.tasks.sequence import RecurrentNet, train

EXTRA_COLUMNS = ("grad_norm", "wall_seconds", "samples", "forward_passes")


def prepare_sequences(scenario: Any, rng: np.random.Generator) -> tuple[SequenceSet, SequenceSet]:
    """The seed's sequences, split into train and test by one permutation of the same generator."""
    options = scenario.dataset_options.model_dump()
    data = make_sequences(scenario.dataset_name, options, rng)
    order = rng.permutation(data.n)
    n_test = int(round(scenario.task.test_fraction * data.n))
    return data.rows(np.sort(order[n_test:])), data.rows(np.sort(order[:n_test]))


def _empty_sets() -> EvaluationSets:
    none, labels = np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
    return EvaluationSets((none,) * 4, (none,) * 4, (labels,) * 4)


def initial_sequence_params(scenario: Any, net: RecurrentNet, seed: int) -> np.ndarray:
    from rulelab.scenario.sequence import sequence_init

    scheme, gain = sequence_init(scenario)
    return net.init_params(seeded_rng(seed, 1), scheme, gain)


def build_sequence_plan(scenario: Any, spec: Any, seed: int, data: Any) -> Plan:
    net = spec.network
    return Plan(label=spec.label, rule_name=spec.rule.name, family=spec.family, seed=seed, kind=spec.rule.kind,
                rule=spec.rule(spec.params), network=net, params=initial_sequence_params(scenario, net, seed),
                task=scenario.task, train=scenario.train, data=data, sets=_empty_sets(),
                columns=[(name, 0) for name in scenario.metrics], loss_code=0, threshold=0.5,
                shuffle_rng=seeded_rng(seed, 3), noise_rng=seeded_rng(seed, 4),
                state_rng=seeded_rng(seed, 2))


def _arrays(s: SequenceSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return s.X, s.Y, s.M


def _stop(plan: Plan) -> tuple[float, float, float]:
    stop = plan.train.stop
    if stop is None:
        return (np.nan, np.nan, np.nan)
    return tuple(np.nan if v is None else float(v) for v in (stop.train_accuracy, stop.test_accuracy, stop.train_loss))


def _budget(plan: Plan, per_row: int) -> int:
    """Training sequences the budget allows (0: no budget)."""
    budget = plan.train.budget
    if budget is None:
        return 0
    return int(budget.amount) if budget.unit == "samples" else max(1, int(budget.amount) // per_row)


def _block(plan: Plan, metrics: np.ndarray, per_row: int) -> MetricBlock:
    """The run's metric table: the scenario's metrics, then the gradient norm, time, samples and forward passes."""
    column = {"train_loss": R.M_TRAIN_LOSS, "train_accuracy": R.M_TRAIN_ACC, "test_loss": R.M_TEST_LOSS,
              "test_accuracy": R.M_TEST_ACC}
    names = tuple(name for name, _ in plan.columns)
    values = np.column_stack([metrics[:, column[n]] for n in names] +
                             [metrics[:, R.M_GRAD_NORM], metrics[:, R.M_WALL], metrics[:, R.M_SAMPLES],
                              metrics[:, R.M_SAMPLES] * per_row])
    return MetricBlock(np.arange(metrics.shape[0]), names + EXTRA_COLUMNS, values)


def _criterion_met(row: np.ndarray, stop: tuple[float, float, float]) -> bool:
    """Whether a metric row meets a declared stop criterion (train accuracy, test accuracy, train loss; NaN:
    not declared)."""
    train_accuracy, test_accuracy, train_loss = stop
    return ((not np.isnan(train_accuracy) and row[R.M_TRAIN_ACC] >= train_accuracy) or
            (not np.isnan(test_accuracy) and row[R.M_TEST_ACC] >= test_accuracy) or
            (not np.isnan(train_loss) and row[R.M_TRAIN_LOSS] <= train_loss))


def _finish(plan: Plan, record: RunRecord, params: np.ndarray, metrics: np.ndarray, per_row: int,
            diverged: bool) -> bool:
    record.params = params
    record.blocks.append(_block(plan, metrics, per_row))
    record.epochs_run = metrics.shape[0] - 1
    record.samples = int(metrics[-1, R.M_SAMPLES])
    record.forward_passes = record.samples * per_row
    record.wall_seconds = float(metrics[-1, R.M_WALL])
    stop = _stop(plan)
    for epoch in range(metrics.shape[0]):
        if _criterion_met(metrics[epoch], stop):
            record.criterion_epoch = epoch
            record.criterion_forward_passes = int(metrics[epoch, R.M_SAMPLES]) * per_row
            break
    if diverged:
        record.status = DIVERGED
        record.message = f"weights became NaN or infinite in epoch {record.epochs_run}"
        return False
    return True


def train_sequence_plan(plan: Plan, record: RunRecord, progress: Callable[[int], None],
                        interrupted: Callable[[], bool]) -> bool:
    """Train one (rule, seed) on a sequence task; False when it diverged."""
    if plan.kind == "population":
        return _train_strategy(plan, record, progress, interrupted)
    train_set, test_set = plan.data.sequences
    result = train(plan.rule, plan.network, plan.params, _arrays(train_set), _arrays(test_set), plan.train.epochs,
                   plan.train.batch_size, plan.state_rng, plan.shuffle_rng, plan.train.shuffle, _budget(plan, 1),
                   _stop(plan), progress=progress, interrupted=interrupted)
    finished = _finish(plan, record, result.params, result.metrics, 1, result.diverged)
    if result.interrupted:
        raise Interrupted  # the record holds every epoch so far; the runner marks it interrupted
    return finished


def _train_strategy(plan: Plan, record: RunRecord, progress: Callable[[int], None],
                    interrupted: Callable[[], bool]) -> bool:
    """An evolution strategy on the recurrent net: per epoch, one generation per fitness minibatch, whole epochs
    in compiled calls (rulelab.tasks.recurrent.strategy_run) with the kernels and noise streams of a
    :class:`~rulelab.core.population.Search`."""
    from rulelab.core.population import Search

    net: RecurrentNet = plan.network
    rule = plan.rule
    hp = rule.params
    train_set, test_set = plan.data.sequences
    X, Y, M = (np.ascontiguousarray(a, dtype=np.float64) for a in _arrays(train_set))
    EX, EY, EM = (np.ascontiguousarray(a, dtype=np.float64) for a in _arrays(test_set))
    search = Search(rule, np.asarray(plan.params, dtype=np.float64), plan.state_rng)
    members = search.population.shape[0]
    batch = hp.fitness_batch or X.shape[0]
    rows = min(batch, X.shape[0])
    Xb, Yb, Mb = np.empty((rows, X.shape[1])), np.empty((rows, Y.shape[1])), np.empty((rows, M.shape[1]))
    epochs = plan.train.epochs
    metrics = np.full((epochs + 1, R.METRIC_COLUMNS), np.nan)
    params = np.ascontiguousarray(search.mean).copy()
    fitness = np.empty(members)
    stop, budget, run = np.asarray(_stop(plan), dtype=np.float64), _budget(plan, members), np.zeros(3)
    done, chunk = 0, 1
    while True:
        started, before = time.perf_counter(), done
        done = int(R.strategy_run(rule.ask_kernel, rule.tell_kernel, search.state, search.hp, search.streams,
                                  search.noise, search.noise64, search.population, fitness, params, net.dims,
                                  net.netf, X, Y, M, EX, EY, EM, Xb, Yb, Mb, plan.shuffle_rng, np.int64(done),
                                  np.int64(min(epochs, done + chunk)), np.int64(batch), bool(plan.train.shuffle),
                                  np.int64(budget), stop, metrics, hp.fitness == "accuracy", run))
        progress(done - before)
        if run[R.R_STATUS] != R.RUNNING or done >= epochs:
            break
        if interrupted():
            _finish(plan, record, params.copy(), metrics[:done + 1], members, False)
            raise Interrupted
        chunk = next_chunk((time.perf_counter() - started) / max(done - before, 1), S.CHUNK_SECONDS)
    return _finish(plan, record, params.copy(), metrics[:done + 1], members, run[R.R_STATUS] == R.DIVERGED)

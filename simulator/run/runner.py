"""Running plans: every rule for every seed, in this process or in worker processes.

A run receives a :class:`~rulelab.build.Plan` (built from the scenario once per rule and
seed, see :mod:`rulelab.build`) and fills a :class:`~rulelab.run.record.RunRecord`.  A
failure of one rule or seed never loses the others: it becomes a record with status
``failed`` and a message naming the rule (and its plug-in file).
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import numpy as np

from rulelab.build import Plan, PreparedData, build_plan, prepare_data
from rulelab.core import engine as E
from rulelab.core.threads import single_threaded_blas
from rulelab.run.interrupts import interrupt_requested
from rulelab.run.online import Interrupted, train_online
from rulelab.run.population import train_population
from rulelab.run.record import (COMPLETED, CONVERGED, DIVERGED, FAILED, INTERRUPTED, NOT_CONVERGED, MetricBlock,
                                RunRecord)
from rulelab.scenario import RuleSpec, Scenario
from rulelab.tasks.association import train_associative
from rulelab.tasks.kinds import TaskKind, kind_of

Progress = Callable[[int], None]


def failure_message(spec_rule, label: str, exc: Exception, kind: TaskKind | None = None) -> str:
    """One line about a failed run; names the plug-in and its file when the rule is not built in, or the task
    kind's plug-in when the error was raised in its code."""
    text = _one_line(exc)
    compile_words = ("nopython mode pipeline", "mismatch of return type", "Cannot determine Numba type")
    if type(exc).__module__.startswith("numba") or any(w in str(exc) for w in compile_words):
        text = f"the kernel failed to compile ({text})"
    if kind is not None and _raised_in_plugin_kind(exc, kind):
        return _naming_kind(kind, text)
    source = spec_rule.source
    if source and source != "built-in":
        text = f"rule '{spec_rule.name}' from {source}: {text}"
    return text


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _raised_in_plugin_kind(exc: BaseException, kind: TaskKind) -> bool:
    return kind.source != "built-in" and _raised_in(exc, type(kind).__module__)


def _naming_kind(kind: TaskKind, text: str) -> str:
    return f"task kind '{kind.name}' from {kind.source}: {text}"


def _raised_in(exc: BaseException, module_name: str) -> bool:
    """Whether the exception passed through code of this module on its way up."""
    path = getattr(sys.modules.get(module_name), "__file__", None)
    frame = exc.__traceback__
    while frame is not None and path is not None:
        if frame.tb_frame.f_code.co_filename == path:
            return True
        frame = frame.tb_next
    return False


def failed_record(spec: RuleSpec, seed: int, message: str, epoch: int = 0) -> RunRecord:
    """The record of a run that failed before (or while) training: its status, why, and an error row."""
    record = RunRecord(spec.label, spec.rule.name, spec.family, seed)
    record.status = FAILED
    record.message = message
    record.rows.append((epoch, "error", float("nan")))
    return record


def prepared_data(scenario: Scenario, seed: int) -> tuple[PreparedData | None, str]:
    """The seed's data, or why it could not be made (naming a plug-in task kind whose code failed): one seed's
    failure must not lose the other seeds' runs."""
    try:
        return prepare_data(scenario, seed), ""
    except Exception as exc:
        kind = kind_of(scenario.task)
        text = f"preparing the data of seed {seed} failed ({_one_line(exc)})"
        return None, _naming_kind(kind, text) if _raised_in_plugin_kind(exc, kind) else text


def run_one(scenario: Scenario, spec: RuleSpec, seed: int, data, progress: Progress | None = None) -> RunRecord:
    """Build the plan of one (rule, seed) and run it; never raises for a failure of the rule itself."""
    try:
        plan = build_plan(scenario, spec, seed, data)
    except Exception as exc:  # e.g. weights_from without this rule's weights
        return failed_record(spec, seed, failure_message(spec.stages[-1].rule, spec.label, exc,
                                                         kind_of(scenario.task)))
    return run_plan(plan, progress, RunRecord(spec.label, spec.rule.name, spec.family, seed))


def run_plan(plan: Plan, progress: Progress | None = None, record: RunRecord | None = None) -> RunRecord:
    """Train one plan; Ctrl-C (between chunks) re-raises KeyboardInterrupt with the partial record attached."""
    record = record or RunRecord(plan.label, plan.rule_name, plan.family, plan.seed)
    progress = progress or (lambda epochs: None)
    try:
        with single_threaded_blas(parallel=plan.kind != "online"):
            _dispatch(plan, record, progress)
    except (Interrupted, KeyboardInterrupt):
        record.status = INTERRUPTED
        record.message = f"interrupted during epoch {record.epochs_run + 1}"
        exc = KeyboardInterrupt()
        exc.record = record  # type: ignore[attr-defined]
        raise exc from None
    except Exception as exc:  # one rule's failure must not lose the other results
        if isinstance(exc, SystemError) and interrupt_requested():
            # A KeyboardInterrupt (a second Ctrl-C) surfacing through compiled code arrives as
            # SystemError: it is the interrupt, not a failure of the rule.
            record.status = INTERRUPTED
            record.message = f"interrupted during epoch {record.epochs_run + 1}"
            interrupted = KeyboardInterrupt()
            interrupted.record = record  # type: ignore[attr-defined]
            raise interrupted from None
        record.status = FAILED
        record.message = failure_message(type(plan.rule), plan.label, exc, kind_of(plan.task))
        record.rows.append((record.epochs_run, "error", float("nan")))
    return record


def _dispatch(plan: Plan, record: RunRecord, progress: Progress) -> None:
    kind = kind_of(plan.task)
    trained = kind.train(plan, record, progress, interrupt_requested)  # a kind that trains its own way
    if trained is not None:
        if trained:
            set_status(plan, record, plan.stop_declared)
    elif plan.kind == "population" and plan.rule.compiled:
        if train_population(plan, record, progress, interrupt_requested):
            set_status(plan, record, plan.stop_declared)
    elif plan.kind == "population":
        _train_population_in_python(plan, record, progress)
    elif plan.kind == "associative":
        train_associative(plan, record, progress)
    else:
        if not train_online(plan, record, progress, interrupt_requested):
            return  # diverged: nothing sensible can be done with such weights
        kind.after_training(plan, record)
        set_status(plan, record, plan.stop_declared or plan.stages[-1].stop_on_zero_signal)


def _evaluate(plan: Plan, params: np.ndarray, buffers: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, bool]:
    """The evaluation columns for ``params`` and whether a stop criterion is met."""
    net = plan.network
    codes = np.asarray([code for _, code in plan.columns], dtype=np.int64)
    cfg, fcfg = plan.settings(0)
    row = np.zeros(len(codes))
    met = E.initial_row(params, net.layout, net.act_args, plan.sets.X, plan.sets.T, plan.sets.labels, cfg, fcfg,
                        np.zeros(E.RUN_SLOTS), codes, row, np.zeros((1, 0), dtype=net.np_dtype), *buffers)
    return row, bool(met)


def _train_population_in_python(plan: Plan, record: RunRecord, progress: Progress) -> None:
    """A strategy written in Python: per epoch, one generation per fitness minibatch, each a Python call."""
    from rulelab.core.population import FITNESS_ACCURACY, FITNESS_LOSS, population_fitness

    net = plan.network
    rule = plan.rule
    hp = rule.params
    params = np.ascontiguousarray(plan.params, dtype=net.np_dtype).copy()
    rng = plan.state_rng
    shuffle_rng = plan.shuffle_rng
    X, T, labels = plan.sets.train
    fitness_code = FITNESS_ACCURACY if hp.fitness == "accuracy" else FITNESS_LOSS
    state = rule.start(params, rng)
    batch = hp.fitness_batch or X.shape[0]
    record.params = params
    buffers = (np.empty(net.n_units, dtype=net.np_dtype), np.empty(net.n_units, dtype=net.np_dtype))
    names = tuple(name for name, _ in plan.columns)
    initial, met = _evaluate(plan, params, buffers)
    record.rows.extend((0, k, float(v)) for k, v in zip(names + ("wall_seconds", "forward_passes"),
                                                         [*initial, 0.0, 0]))
    if met:
        record.criterion_epoch, record.criterion_forward_passes = 0, 0
    generations, nan_members = 0, 0
    fitness = np.zeros(0)
    per_row = population_size(rule)
    for epoch in range(1, plan.train.epochs + 1):
        if record.criterion_epoch is not None and plan.train.stop.early:
            break
        order = shuffle_rng.permutation(X.shape[0]) if plan.train.shuffle else np.arange(X.shape[0])
        start = time.perf_counter()
        spent = False
        for lo in range(0, X.shape[0], batch):
            # The last generation's minibatch shrinks to what the budget still allows.
            take = rows_within_budget(plan, record, len(order[lo:lo + batch]), per_row)
            if take == 0:
                spent = True
                break
            rows = order[lo:lo + take]
            Xb, Tb = np.ascontiguousarray(X[rows]), np.ascontiguousarray(T[rows])
            Lb = np.ascontiguousarray(labels[rows]) if labels.size else labels
            population = np.ascontiguousarray(rule.ask(state, rng), dtype=net.np_dtype)
            fitness = np.empty(population.shape[0])
            population_fitness(population, net.layout, net.act_args, Xb, Tb, Lb, plan.loss_code,
                               plan.threshold, fitness_code, fitness)
            nan_members += int(np.isnan(fitness).sum())
            rule.tell(state, population, fitness)
            generations += 1
            record.forward_passes += population.shape[0] * Xb.shape[0]
            record.samples += Xb.shape[0]
        record.wall_seconds += time.perf_counter() - start
        if spent and lo == 0:
            break  # nothing was trained this epoch
        params = np.ascontiguousarray(rule.solution(state), dtype=net.np_dtype)
        record.params = params
        record.epochs_run = epoch
        finite = fitness[np.isfinite(fitness)]
        evaluation, met = _evaluate(plan, params, buffers)
        values = {**dict(zip(names, evaluation)),
                  "fitness_best": float(finite.max()) if finite.size else float("nan"),
                  "fitness_mean": float(finite.mean()) if finite.size else float("nan"),
                  "fitness_std": float(finite.std()) if finite.size else float("nan"),
                  "sigma": float(state.sigma), "generations": generations, "nan_fitness": nan_members,
                  "wall_seconds": record.wall_seconds, "forward_passes": record.forward_passes}
        record.rows.extend((epoch, k, float(v)) for k, v in values.items())
        progress(1)
        if not np.all(np.isfinite(params)) or (params.size and np.max(np.abs(params)) > E.DIVERGENCE_LIMIT):
            record.status = DIVERGED
            largest = float(np.max(np.abs(params)))
            problem = ("weights became NaN or infinite" if not np.all(np.isfinite(params)) else
                       f"weights grew without bound (|w| = {largest:.3g} > {E.DIVERGENCE_LIMIT:g})")
            record.message = f"{problem} in epoch {epoch}"
            return
        if record.criterion_epoch is None and met:
            record.criterion_epoch = epoch
            record.criterion_forward_passes = record.forward_passes
        if interrupt_requested():
            raise Interrupted
    if nan_members:
        record.message = f"{nan_members} members had a NaN fitness (ranked worst)"
    set_status(plan, record, plan.stop_declared)


def population_size(rule) -> int:
    return int(getattr(rule.params, "population", 0) or 1)


def rows_within_budget(plan: Plan, record: RunRecord, rows: int, per_row: int) -> int:
    """How many of the next ``rows`` training rows the budget still allows (0: spent)."""
    budget = plan.train.budget
    if budget is None:
        return rows
    if budget.unit == "wall_seconds":
        return rows if record.wall_seconds < budget.wall_seconds else 0
    used = record.samples if budget.unit == "samples" else record.forward_passes
    cost = 1 if budget.unit == "samples" else per_row
    left = int(budget.amount) - used
    return max(0, min(rows, -(-left // cost)))


def set_status(plan: Plan, record: RunRecord, has_criterion: bool) -> None:
    """Converged, not converged or completed, with the budget and epochs in words."""
    budget = plan.train.budget
    if budget is not None and rows_within_budget(plan, record, 1, 1) == 0:
        record.message = (f"budget of {budget.amount:g} {budget.unit.replace('_', ' ')} used in "
                          f"{record.epochs_run} epochs")
    if plan.train.epochs == 0 and record.criterion_epoch is None:
        record.status = COMPLETED
        record.message = "evaluated only (0 epochs)"
    elif has_criterion:
        record.status = CONVERGED if record.criterion_epoch is not None else NOT_CONVERGED
        if record.status == NOT_CONVERGED:
            spent = f"; {record.message}" if record.message else ""
            record.message = f"did not converge in {record.epochs_run} epochs{spent}"
    else:
        record.status = COMPLETED


def run_scenario(scenario: Scenario, on_record: Callable[[RunRecord], None] | None = None,
                 progress: Progress | None = None,
                 skip: set[tuple[str, int]] = frozenset()) -> list[RunRecord]:
    """Run every rule for every seed; a Ctrl-C stops after recording what finished.

    ``on_record`` is called as each (rule, seed) finishes, so results can be
    written as they arrive.  On KeyboardInterrupt the records so far (the
    interrupted one included, marked as such) are attached to the exception as
    ``exc.records`` and it is re-raised.
    """
    records: list[RunRecord] = []

    def keep(record: RunRecord) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    try:
        # One BLAS limit for the whole scenario, not one per run (setting and restoring it: ~26 µs here).
        with single_threaded_blas(parallel=False):
            for seed in scenario.seeds:
                todo = [spec for spec in scenario.rules if (spec.label, seed) not in skip]
                if not todo:
                    continue
                data, problem = prepared_data(scenario, seed)
                for spec in todo:
                    keep(run_one(scenario, spec, seed, data, progress) if data is not None
                         else failed_record(spec, seed, problem))
                    if interrupt_requested():
                        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        interrupted = getattr(exc, "record", None)
        if interrupted is not None:
            keep(interrupted)
        exc.records = records  # type: ignore[attr-defined]
        raise
    return records


__all__ = ["MetricBlock", "RunRecord", "run_one", "run_plan", "run_scenario", "set_status",
           "single_threaded_blas"]

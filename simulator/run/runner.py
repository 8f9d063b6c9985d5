"""Running a scenario: every rule for every seed (in this process, or in worker processes).

Randomness is split per purpose from the repeat's seed, and shared by every
rule, so that rules see the same data split, the same initial weights (for the
same network) and the same shuffle orders — comparisons are paired:

    SeedSequence([seed, 0]) dataset and split     [seed, 1] initial weights
    SeedSequence([seed, 2]) rule state / ES noise [seed, 3] shuffle orders
    SeedSequence([seed, 4]) input corruption      [seed, 5] corrupted test set, Hopfield loads
    SeedSequence([seed, 6, …]) recall cues, activation-maximisation starts

Each run draws only from its own streams, so results do not depend on how runs are
spread over processes or threads.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from rulelab.build import PreparedData, prepare_data
from rulelab.core import kernels as K
from rulelab.core.network import Network, encode_targets, init_params, target_range
from rulelab.run.record import (COMPLETED, CONVERGED, DIVERGED, FAILED, INTERRUPTED, NOT_CONVERGED,
                                RunRecord)
from rulelab.tasks.association import train_associative
from rulelab.scenario import RuleSpec, Scenario
from rulelab.tasks.inputs import optimise_inputs


def _arrays(net: Network, X: np.ndarray, y: np.ndarray | None, targets: np.ndarray | None = None,
            regression: bool = False):
    """(inputs, target matrix, integer labels) in the network's dtype."""
    dtype = net.np_dtype
    X = np.ascontiguousarray(X, dtype=dtype)
    no_labels = np.zeros(0, dtype=np.int64)
    if regression:
        return X, np.ascontiguousarray(targets, dtype=dtype), no_labels
    if y is None:
        return X, np.zeros((X.shape[0], 0), dtype=dtype), no_labels
    T = np.ascontiguousarray(encode_targets(y, net.sizes[-1], net.output_activation), dtype=dtype)
    return X, T, np.ascontiguousarray(y, dtype=np.int64)


def corrupt(X: np.ndarray, kind: str, level: float, rng: np.random.Generator,
            low: float, high: float) -> np.ndarray:
    """A corrupted copy of X: flip a fraction of inputs (x → low + high − x), mask them to ``low``,
    or add Gaussian noise of std ``level``."""
    if kind == "gaussian":
        return (X + rng.normal(0.0, level, size=X.shape)).astype(X.dtype)
    hit = rng.random(X.shape) < level
    if kind == "bitflip":
        return np.where(hit, low + high - X, X).astype(X.dtype)
    return np.where(hit, low, X).astype(X.dtype)


class _Evaluator:
    """Per-epoch metrics of a network on the train and test sets (PC angles for unsupervised tasks)."""

    def _pc_metrics(self, params: np.ndarray) -> dict[str, float]:
        W = self.net.weights(np.asarray(params, dtype=np.float64), 0)
        out = {f"pc_angle_{k}": float(a) for k, a in enumerate(pc_angles(W, self.components))}
        out["weight_norm"] = float(np.linalg.norm(W, axis=1).max())
        return out

    def __init__(self, scenario: Scenario, net: Network, data: PreparedData, seed: int):
        self.net = net
        self.loss_code = K.LOSS_CODES[scenario.task.loss]
        off, on = target_range(net.output_activation)
        self.threshold = (off + on) / 2.0  # a single output unit means class 1 at or above this
        self.classification = scenario.task.kind in ("classification", "activation_maximisation", "adversarial")
        regression = scenario.task.kind == "regression"
        split = data.split
        if scenario.task.kind == "autoencoding":
            # The target is the (clean) input itself.
            self.train = _arrays(net, split.X_train, None, split.X_train, True)
            self.test = _arrays(net, split.X_test, None, split.X_test, True)
        else:
            self.train = _arrays(net, split.X_train, split.y_train, split.targets_train, regression)
            self.test = _arrays(net, split.X_test, split.y_test, split.targets_test, regression)
        self.metrics = scenario.metrics
        self.components = None
        if scenario.task.kind == "unsupervised":
            # Principal components of the training inputs, largest variance first (NumPy's eigh).
            X = split.X_train - split.X_train.mean(axis=0)
            variances, vectors = np.linalg.eigh(X.T @ X / len(X))
            self.components = vectors[:, ::-1].T
        self.validation = None
        if split.X_val is not None and scenario.task.kind in ("classification", "regression"):
            self.validation = _arrays(net, split.X_val, split.y_val, split.targets_val,
                                      scenario.task.kind == "regression")
        self.noisy_test = None
        c = scenario.task.corruption
        if c is not None and self.test[0].shape[0] > 0:
            X_test = self.test[0]
            self.noisy_test = corrupt(X_test, c.kind, c.level, np.random.default_rng([seed, 5]),
                                      data.low, data.high)

    def __call__(self, params: np.ndarray) -> dict[str, float]:
        if self.components is not None:
            return self._pc_metrics(params)
        out: dict[str, float] = {}
        sets = [("train", self.train), ("test", self.test)]
        if self.validation is not None:
            sets.append(("validation", self.validation))
        for name, (X, T, labels) in sets:
            if X.shape[0] == 0:
                continue
            loss, correct = K.evaluate(params, self.net.layout, self.net.act_args, X, T, labels,
                                       self.loss_code, self.threshold)
            if f"{name}_loss" in self.metrics:
                out[f"{name}_loss"] = float(loss)
            if self.classification and f"{name}_accuracy" in self.metrics:
                out[f"{name}_accuracy"] = correct / X.shape[0]
        if self.noisy_test is not None and "test_denoising_loss" in self.metrics:
            _, T, labels = self.test
            loss, _ = K.evaluate(params, self.net.layout, self.net.act_args, self.noisy_test, T, labels,
                                 self.loss_code, self.threshold)
            out["test_denoising_loss"] = float(loss)
        return out


# Weights this large mean the rule is running away (e.g. Hebb without bounds), long before float64
# overflows; stopping here reports it as diverged instead of as a finished run.
DIVERGENCE_LIMIT = 1e12


def divergence(params: np.ndarray, signal: float) -> str:
    """Why the weights count as diverged, or '' when they do not."""
    if not (np.isfinite(signal) and np.all(np.isfinite(params))):
        return "weights became NaN or infinite"
    largest = float(np.max(np.abs(params))) if params.size else 0.0
    if largest > DIVERGENCE_LIMIT:
        return f"weights grew without bound (|w| = {largest:.3g} > {DIVERGENCE_LIMIT:g})"
    return ""


def pc_angles(W: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Angle in degrees between each unit's weight vector w_k and the k-th principal component (sign ignored)."""
    k = min(len(W), len(components))
    norms = np.linalg.norm(W[:k], axis=1) * np.linalg.norm(components[:k], axis=1)
    cos = np.abs(np.sum(W[:k] * components[:k], axis=1)) / np.where(norms > 0, norms, 1.0)
    return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))


def _criterion_met(scenario: Scenario, values: dict[str, float]) -> bool:
    stop = scenario.train.stop
    if stop is None:
        return False
    checks = []
    if stop.train_accuracy is not None and "train_accuracy" in values:
        checks.append(values["train_accuracy"] >= stop.train_accuracy)
    if stop.test_accuracy is not None and "test_accuracy" in values:
        checks.append(values["test_accuracy"] >= stop.test_accuracy)
    if stop.train_loss is not None and "train_loss" in values:
        checks.append(values["train_loss"] <= stop.train_loss)
    return any(checks)


def failure_message(spec: RuleSpec, exc: Exception) -> str:
    """One line about a failed run; names the plug-in and its file when the rule is not built in."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    compile_words = ("nopython mode pipeline", "mismatch of return type", "Cannot determine Numba type")
    if type(exc).__module__.startswith("numba") or any(w in str(exc) for w in compile_words):
        text = f"the kernel failed to compile ({text})"
    source = spec.stages[-1].rule.source
    if source and source != "built-in":
        text = f"rule '{spec.rule.name}' from {source}: {text}"
    return text


_THREADPOOLS = None


def single_threaded_blas():
    """BLAS at one thread for the duration: training loops parallelise the outer loop instead
    (population members), and small products slow down with more BLAS threads."""
    global _THREADPOOLS
    from threadpoolctl import ThreadpoolController

    if _THREADPOOLS is None:  # inspecting the loaded libraries is the slow part: do it once
        from rulelab.core.population import start_parallel_threads

        start_parallel_threads()  # before the first limit, or the limit misses the workers' BLAS calls
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="blas")


def run_one(scenario: Scenario, spec: RuleSpec, seed: int, data: PreparedData,
            on_epoch: Callable[[], None] | None = None) -> RunRecord:
    """Train one rule from one seed; never raises for a failure of the rule itself."""
    with single_threaded_blas():
        return _run_one(scenario, spec, seed, data, on_epoch)


def _run_one(scenario: Scenario, spec: RuleSpec, seed: int, data: PreparedData,
             on_epoch: Callable[[], None] | None = None) -> RunRecord:
    from rulelab.core.engine import train_epoch

    record = RunRecord(spec.label, spec.rule.name, spec.family, seed)
    try:
        if spec.rule.kind == "population":
            _train_population(scenario, spec, seed, data, record, on_epoch or (lambda: None))
        elif spec.rule.kind == "associative":
            train_associative(scenario, spec, seed, data, record, on_epoch or (lambda: None))
        else:
            _train(scenario, spec, seed, data, record, on_epoch or (lambda: None), train_epoch)
    except KeyboardInterrupt as exc:
        record.status = INTERRUPTED
        record.message = f"interrupted during epoch {record.epochs_run + 1}"
        exc.record = record  # type: ignore[attr-defined]
        raise
    except Exception as exc:  # one rule's failure must not lose the other results
        record.status = FAILED
        record.message = failure_message(spec, exc)
        record.rows.append((record.epochs_run, "error", float("nan")))
    return record


def _train(scenario: Scenario, spec: RuleSpec, seed: int, data: PreparedData, record: RunRecord,
           on_epoch: Callable[[], None], train_epoch) -> None:
    """Online training, stage after stage (one stage for a plain rule) on the same weights."""
    net = spec.network
    params = _initial_params(scenario, spec, seed)
    shuffle_rng = np.random.default_rng([seed, 3])
    evaluate = _Evaluator(scenario, net, data, seed)
    X, Y, _ = evaluate.train
    corruption = scenario.task.corruption
    noise_rng = np.random.default_rng([seed, 4])
    final_rule = spec.stages[-1].rule
    has_criterion = scenario.train.stop is not None or final_rule.converged_when_signal_zero
    record.params = params

    def log(epoch: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            record.rows.append((epoch, name, float(value)))

    initial = evaluate(params)
    log(0, {**initial, "wall_seconds": 0.0, "forward_passes": 0})
    stop_now = False
    if _criterion_met(scenario, initial):
        record.criterion_epoch, record.criterion_forward_passes = 0, 0
        stop_now = scenario.train.stop.early
    budget = scenario.train.budget
    epoch = 0
    for index, stage in enumerate(spec.stages):
        final = index == len(spec.stages) - 1
        rule = stage.rule(stage.params)
        stream = [seed, 2] if index == 0 else [seed, 2, index]
        state = np.ascontiguousarray(rule.init_state(net, np.random.default_rng(stream)), dtype=net.np_dtype)
        hp = stage.params.pack()
        kernel = rule.kernel(net, scenario.train.batch_size)
        # A zero-row call compiles (or loads) the kernel now, so wall_seconds measures training only.
        train_epoch(kernel, params, net.layout, net.act_args, state, hp, X[:0], Y[:0], 1)
        stage_epochs = stage.epochs if stage.epochs is not None else scenario.train.epochs
        for _ in range(0 if stop_now else stage_epochs):
            if scenario.train.shuffle:
                order = shuffle_rng.permutation(X.shape[0])
                Xe, Ye = np.ascontiguousarray(X[order]), np.ascontiguousarray(Y[order])
            else:
                Xe, Ye = X, Y
            rows = _rows_within_budget(budget, record, Xe.shape[0], per_row=1)
            if rows == 0:
                break
            Xe, Ye = Xe[:rows], Ye[:rows]
            if corruption is not None:
                # Denoising: fresh corruption of the inputs every epoch; targets stay clean.
                Xe = np.ascontiguousarray(corrupt(Xe, corruption.kind, corruption.level, noise_rng,
                                                  data.low, data.high))
            start = time.perf_counter()
            signal = train_epoch(kernel, params, net.layout, net.act_args, state, hp, Xe, Ye,
                                 scenario.train.batch_size)
            record.wall_seconds += time.perf_counter() - start
            record.forward_passes += Xe.shape[0]
            record.samples += Xe.shape[0]
            epoch += 1
            record.epochs_run = epoch
            values = {**evaluate(params), rule.signal: signal,
                      "wall_seconds": record.wall_seconds, "forward_passes": record.forward_passes}
            if len(spec.stages) > 1:
                values["stage"] = index + 1
            log(epoch, values)
            on_epoch()
            problem = divergence(params, signal)
            if problem:
                record.status = DIVERGED
                record.message = f"{problem} in epoch {epoch}" + (
                    f" (stage {index + 1}, {stage.rule.name})" if len(spec.stages) > 1 else "")
                return  # nothing sensible can be done with such weights
            if not final:
                continue  # stop criteria judge the finished pipeline only
            met = _criterion_met(scenario, values) or (rule.converged_when_signal_zero and signal == 0.0)
            if met and record.criterion_epoch is None:
                record.criterion_epoch = epoch
                record.criterion_forward_passes = record.forward_passes
                stop = scenario.train.stop
                if stop is None or stop.early:
                    break
    if scenario.task.kind in ("activation_maximisation", "adversarial"):
        optimise_inputs(scenario, net, params, data, seed, record)
    _set_status(scenario, record, has_criterion)


def _initial_params(scenario: Scenario, spec: RuleSpec, seed: int) -> np.ndarray:
    """Seeded initial weights ([seed, 1]): rules sharing a network start from the same point."""
    if scenario.weights_from is not None:
        return load_weights(scenario.weights_from, spec, seed)
    init = spec.init
    return init_params(spec.network, np.random.default_rng([seed, 1]), init.scheme, init.scale, init.sigma,
                       init.bias, [layer.model_dump() for layer in init.layers] if init.layers else None)


def _train_population(scenario: Scenario, spec: RuleSpec, seed: int, data: PreparedData, record: RunRecord,
                      on_epoch: Callable[[], None]) -> None:
    """Evolve the whole parameter vector: per epoch, one generation per fitness minibatch."""
    from rulelab.core.population import FITNESS_ACCURACY, FITNESS_LOSS, population_fitness

    net = spec.network
    rule = spec.rule(spec.params)
    hp = spec.params
    params = _initial_params(scenario, spec, seed)
    rng = np.random.default_rng([seed, 2])
    shuffle_rng = np.random.default_rng([seed, 3])
    evaluate = _Evaluator(scenario, net, data, seed)
    X, T, labels = evaluate.train
    fitness_code = FITNESS_ACCURACY if hp.fitness == "accuracy" else FITNESS_LOSS
    loss_code = K.LOSS_CODES[scenario.task.loss]
    state = rule.start(params, rng)
    batch = hp.fitness_batch or X.shape[0]
    record.params = params
    has_criterion = scenario.train.stop is not None
    initial = evaluate(params)
    record.rows.extend((0, k, float(v)) for k, v in {**initial, "wall_seconds": 0.0, "forward_passes": 0}.items())
    if _criterion_met(scenario, initial):
        record.criterion_epoch, record.criterion_forward_passes = 0, 0
    generations, nan_members = 0, 0
    fitness = np.zeros(0)
    for epoch in range(1, scenario.train.epochs + 1):
        if record.criterion_epoch is not None and scenario.train.stop.early:
            break
        order = shuffle_rng.permutation(X.shape[0]) if scenario.train.shuffle else np.arange(X.shape[0])
        start = time.perf_counter()
        spent = False
        for lo in range(0, X.shape[0], batch):
            # The last generation's minibatch shrinks to what the budget still allows.
            take = _rows_within_budget(scenario.train.budget, record, len(order[lo:lo + batch]),
                                       per_row=hp_population(rule))
            if take == 0:
                spent = True
                break
            rows = order[lo:lo + take]
            Xb, Tb = np.ascontiguousarray(X[rows]), np.ascontiguousarray(T[rows])
            Lb = np.ascontiguousarray(labels[rows]) if labels.size else labels
            population = np.ascontiguousarray(rule.ask(state, rng), dtype=net.np_dtype)
            fitness = np.empty(population.shape[0])
            population_fitness(population, net.layout, net.act_args, Xb, Tb, Lb, loss_code,
                               evaluate.threshold, fitness_code, fitness)
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
        values = {**evaluate(params), "fitness_best": float(finite.max()) if finite.size else float("nan"),
                  "fitness_mean": float(finite.mean()) if finite.size else float("nan"),
                  "fitness_std": float(finite.std()) if finite.size else float("nan"),
                  "sigma": float(state.sigma), "generations": generations, "nan_fitness": nan_members,
                  "wall_seconds": record.wall_seconds, "forward_passes": record.forward_passes}
        record.rows.extend((epoch, k, float(v)) for k, v in values.items())
        on_epoch()
        problem = divergence(params, 0.0)
        if problem:
            record.status = DIVERGED
            record.message = f"{problem} in epoch {epoch}"
            return
        if record.criterion_epoch is None and _criterion_met(scenario, values):
            record.criterion_epoch = epoch
            record.criterion_forward_passes = record.forward_passes
    if nan_members:
        record.message = f"{nan_members} members had a NaN fitness (ranked worst)"
    _set_status(scenario, record, has_criterion)


def hp_population(rule) -> int:
    return int(getattr(rule.params, "population", 0) or 1)


def _rows_within_budget(budget, record: RunRecord, rows: int, per_row: int) -> int:
    """How many of the next ``rows`` training rows the budget still allows (0: spent)."""
    if budget is None:
        return rows
    if budget.unit == "wall_seconds":
        return rows if record.wall_seconds < budget.wall_seconds else 0
    used = record.samples if budget.unit == "samples" else record.forward_passes
    cost = 1 if budget.unit == "samples" else per_row
    left = int(budget.amount) - used
    return max(0, min(rows, -(-left // cost)))


def _set_status(scenario: Scenario, record: RunRecord, has_criterion: bool) -> None:
    budget = scenario.train.budget
    if budget is not None and _rows_within_budget(budget, record, 1, 1) == 0:
        record.message = f"budget of {budget.amount:g} {budget.unit.replace('_', ' ')} used in {record.epochs_run} epochs"
    if scenario.train.epochs == 0 and record.criterion_epoch is None:
        record.status = COMPLETED
        record.message = "evaluated only (0 epochs)"
    elif has_criterion:
        record.status = CONVERGED if record.criterion_epoch is not None else NOT_CONVERGED
        if record.status == NOT_CONVERGED:
            spent = f"; {record.message}" if record.message else ""
            record.message = f"did not converge in {record.epochs_run} epochs{spent}"
    else:
        record.status = COMPLETED


def load_weights(path, spec: RuleSpec, seed: int) -> np.ndarray:
    """A previous run's final parameters for this rule label and seed."""
    key = f"{spec.label}/seed{seed}"
    with np.load(path) as saved:
        if key not in saved:
            available = sorted(k for k in saved.files if "/seed" in k)
            raise ValueError(f"{path} has no weights for rule '{spec.label}' and seed {seed} "
                             f"(it has: {', '.join(available) or 'none'})")
        params = np.asarray(saved[key], dtype=spec.network.np_dtype)
    if params.shape != (spec.network.n_params,):
        raise ValueError(f"{path}: weights for '{spec.label}' have {params.size} values; "
                         f"this network needs {spec.network.n_params}")
    return params.copy()


def _tasks(scenario: Scenario, skip: set[tuple[str, int]]) -> list[tuple[int, int]]:
    """(rule index, seed) pairs still to run, seed-major like the sequential loop."""
    return [(i, seed) for seed in scenario.seeds for i, spec in enumerate(scenario.rules)
            if (spec.label, seed) not in skip]


def run_parallel(scenario: Scenario, jobs: int, on_record: Callable[[RunRecord], None],
                 skip: set[tuple[str, int]] = frozenset()) -> list[RunRecord]:
    """Independent (rule, seed) runs in ``jobs`` worker processes; results arrive as they finish.

    Numbers are identical to a sequential run: each run draws only from its own seed.
    """
    from rulelab.run.executors import LocalExecutor, collect

    records: list[RunRecord] = []

    def keep(key, record: RunRecord) -> None:
        records.append(record)
        on_record(record)

    tasks = {(i, seed): (scenario, i, seed) for i, seed in _tasks(scenario, skip)}
    try:
        collect(LocalExecutor(jobs), tasks, keep)
    except KeyboardInterrupt as exc:
        exc.records = records  # type: ignore[attr-defined]
        raise
    return records


def run_scenario(scenario: Scenario, on_record: Callable[[RunRecord], None] | None = None,
                 on_epoch: Callable[[], None] | None = None,
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
        for seed in scenario.seeds:
            todo = [spec for spec in scenario.rules if (spec.label, seed) not in skip]
            if not todo:
                continue
            data = prepare_data(scenario, seed)
            for spec in todo:
                keep(run_one(scenario, spec, seed, data, on_epoch))
    except KeyboardInterrupt as exc:
        interrupted = getattr(exc, "record", None)
        if interrupted is not None:
            keep(interrupted)
        exc.records = records  # type: ignore[attr-defined]
        raise
    return records

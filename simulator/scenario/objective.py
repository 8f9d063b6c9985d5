"""Validation of task kind objective: a black-box function, a dimension, evolution strategies only."""

from __future__ import annotations

from typing import Any

from rulelab.rule import Rule
from rulelab.scenario.entries import claim_label, entry_params, entry_rule
from rulelab.scenario.schema import OBJECTIVE_KEYS, ScenarioModel
from rulelab.tasks.objective import OBJECTIVE_METRICS, SearchSpace

# Keys of a task that describe data or a network: an objective task has neither.
DATA_KEYS = ("dataset", "corruption", "weights_from", "test_fraction", "loss")
STRATEGIES = "openai_es, cma_es, one_plus_one_es, mu_lambda_es"


def objective_problems(model: ScenarioModel, raw: dict[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with an objective task's own keys (function, dimension, x0, stop, budget, metrics)."""
    task, problems = model.task, []
    if task.function is None:
        problems.append(("task.function", "missing; expected one of sphere, ellipsoid, rosenbrock, rastrigin, "
                         "ackley"))
    if task.dimension is None:
        problems.append(("task.dimension", "missing; expected the length D of the parameter vector x (≥ 1)"))
    if isinstance(task.x0, list) and task.dimension is not None and len(task.x0) != task.dimension:
        problems.append(("task.x0", f"got {len(task.x0)} values; expected one number for every coordinate or "
                         f"one per coordinate ({task.dimension})"))
    given = raw.get("task", {}) if isinstance(raw.get("task"), dict) else {}
    for key in DATA_KEYS + ("corruption", "optimise", "association", "validation_fraction", "stratify",
                            "standardize"):
        if key in given:
            problems.append((f"task.{key}", f"an objective task has no data; drop {key} (the function, dimension, "
                             "shift, rotate and x0 describe it)"))
    if "network" in raw:
        problems.append(("network", "an objective task has no network: the strategies search x ∈ R^D "
                         "(task.dimension); drop network"))
    stop = model.train.stop
    if stop is not None:
        for key in ("train_accuracy", "test_accuracy", "train_loss"):
            if getattr(stop, key) is not None:
                problems.append((f"train.stop.{key}", "an objective task has no data to score; stop at a target "
                                 "value with stop: {objective: 1e-10}"))
    budget = model.train.budget
    if budget is not None and budget.unit == "samples":
        problems.append(("train.budget.samples", "an objective task has no samples; give evaluations (or "
                         "forward_passes, the same count here, or wall_seconds)"))
    for k, name in enumerate(model.metrics or []):
        if name not in OBJECTIVE_METRICS:
            problems.append((f"metrics[{k}]", f"got {name}; an objective task measures "
                             f"{', '.join(OBJECTIVE_METRICS)}"))
    return problems


def non_objective_problems(model: ScenarioModel) -> list[tuple[str, str]]:
    """Objective-only keys given to another task kind, and what every other kind requires."""
    problems = []
    for key in OBJECTIVE_KEYS:
        if getattr(model.task, key) is not None:
            problems.append((f"task.{key}", f"applies to task kind objective only (this task is "
                             f"{model.task.kind})"))
    if model.task.dataset is None:
        problems.append(("task.dataset", "missing; this key is required (a dataset name, rulelab datasets lists "
                         "them, or a mapping {name: NAME, option: value, …})"))
    if model.network is None:
        problems.append(("network", "missing; this key is required (the network, e.g. network: {layers: [2, 8, 1]})"))
    stop, budget = model.train.stop, model.train.budget
    if stop is not None and stop.objective is not None:
        problems.append(("train.stop.objective", "applies to task kind objective only; use train_accuracy, "
                         "test_accuracy or train_loss"))
    if budget is not None and budget.unit == "evaluations":
        problems.append(("train.budget.evaluations", "applies to task kind objective only; use forward_passes"))
    return problems


def objective_rules(model: ScenarioModel, registry: dict[str, type[Rule]],
                    problems: list[tuple[str, str]]) -> list[tuple[str, type[Rule], Any]]:
    """(label, rule, hyperparameters) of each entry; a rule that is not a compiled evolution strategy is refused."""
    out, labels = [], {}
    for i, entry in enumerate(model.rules):
        where = f"rules[{i}]"
        rule = entry_rule(entry, where, registry, problems,
                          f"an objective task takes one evolution strategy per entry ({STRATEGIES}); "
                          "stages train networks", "an objective task has no network; drop it")
        if rule is None:
            continue
        if rule.kind != "population":
            problems.append((f"{where}.rule", f"rule '{rule.name}' ({rule.family}) learns a network from data "
                             f"{'with gradients' if rule.family == 'gradient' else 'by its own update'}; an "
                             f"objective task takes evolution strategies, which need only f(x) ({STRATEGIES})"))
            continue
        if rule.ask_kernel is None or rule.tell_kernel is None:
            problems.append((f"{where}.rule", f"rule '{rule.name}' is written in Python (ask/tell); objective tasks "
                             "run compiled strategies (ask_kernel and tell_kernel)"))
            continue
        params = entry_params(rule, entry, where, problems)
        if params is None:
            continue
        params = rule(params).for_deterministic_fitness(params)
        label = claim_label(entry, rule, i, labels, problems)
        if model.task.dimension is not None and model.task.function is not None:
            problem = rule(params).check_network(SearchSpace(model.task.dimension, model.task.function))
            if problem:
                problems.append((f"{where}.rule", problem))
        out.append((label, rule, params))
    return out

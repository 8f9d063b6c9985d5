"""Validation of task kind sequence: a sequence dataset, a recurrent net, sequence rules and evolution strategies.

    task: {kind: sequence, dataset: {name: delayed_recall, bits: 2, delay: 8}, test_fraction: 0.2}
    network:
      layers: [{kind: recurrent, units: 16, activation: tanh, leak: 0.0, init: pytorch}, 2]
      output_activation: softmax          # linear for regression (the adding problem)
    rules: [{rule: bptt, lr: 0.01}, {rule: eprop}, {rule: openai_es, population: 20}]

The input item may be given first as [steps, features]; it must then match the dataset.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from rulelab.rule import Rule
from rulelab.scenario.errors import clip_text, did_you_mean, pydantic_problems, show
from rulelab.scenario.entries import claim_label, entry_params, entry_rule, resolved_scenario
from rulelab.scenario.schema import InitConfig, ScenarioModel
from rulelab.tasks.sequence import RECURRENT_ACTIVATIONS, RecurrentNet

SEQUENCE_METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
RECURRENT_KEYS = ("kind", "units", "activation", "leak", "init", "gain")
RECURRENT_INITS = ("pytorch", "orthogonal", "glorot")
SEQUENCE_KINDS = "bptt, bptt_feedback_alignment, eprop, or an evolution strategy (openai_es, cma_es, " \
                 "one_plus_one_es, mu_lambda_es)"


def dataset_choice(model: ScenarioModel, problems: list[tuple[str, str]]) -> tuple[str, Any]:
    """(name, validated options) of task.dataset among the sequence datasets."""
    from rulelab.data.sequences import SEQUENCE_DATASETS

    ref = model.task.dataset
    if ref is None:
        problems.append(("task.dataset", f"missing; a sequence task needs one of {', '.join(SEQUENCE_DATASETS)}"))
        return "", None
    options = {} if isinstance(ref, str) else dict(ref)
    name = ref if isinstance(ref, str) else options.pop("name", None)
    path = "task.dataset" if isinstance(ref, str) else "task.dataset.name"
    if not isinstance(name, str) or name not in SEQUENCE_DATASETS:
        problems.append((path, f"{'missing' if name is None else 'unknown sequence dataset ' + show(name)}"
                               f"{did_you_mean(name, list(SEQUENCE_DATASETS)) if isinstance(name, str) else ''} "
                               f"(available: {', '.join(SEQUENCE_DATASETS)})"))
        return "", None
    Options = SEQUENCE_DATASETS[name][0]
    try:
        return name, Options.model_validate(options)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, ("task", "dataset"), Options, given=options))
        return name, None


def data_shape(name: str, options: Any) -> tuple[int, int, int, bool]:
    """(steps, features, outputs, regression) of a sequence dataset, from a tiny draw of it."""
    import numpy as np

    from rulelab.data.sequences import SEQUENCE_DATASETS

    small = options.model_copy(update={"n_samples": min(getattr(options, "n_samples", 10), 20)}) \
        if "n_samples" in type(options).model_fields and name != "mnist1d" else options
    if name == "mnist1d":
        small = options.model_copy(update={"n_samples": 10})
    data = SEQUENCE_DATASETS[name][1](small, np.random.default_rng(0))
    return data.steps, data.features, data.classes, data.regression


def recurrent_network(raw: dict[str, Any], model: ScenarioModel, shape: tuple[int, int, int, bool],
                      problems: list[tuple[str, str]]) -> tuple[RecurrentNet | None, str, float]:
    """The recurrent net of ``network`` (input from the data), its init scheme and gain; problems with key paths."""
    steps, features, outputs, regression = shape
    net_cfg = model.network
    if net_cfg is None:
        problems.append(("network", "missing; e.g. network: {layers: [{kind: recurrent, units: 16}, 2]}"))
        return None, "", 1.0
    layers = list(net_cfg.layers)
    start = 0
    if isinstance(layers[0], list):
        if layers[0] != [steps, features]:
            problems.append(("network.layers[0]", f"got {show(layers[0])}; the dataset gives sequences of shape "
                             f"[steps, features] = [{steps}, {features}] (or leave the input out)"))
        start = 1
    body = layers[start:]
    where = f"network.layers[{start}]"
    if len(body) != 2 or not isinstance(body[0], dict) or body[0].get("kind") != "recurrent":
        problems.append(("network.layers", "a sequence task's net is one recurrent layer and a readout: "
                         "[{kind: recurrent, units: H}, OUTPUTS] (optionally after the input [steps, features])"))
        return None, "", 1.0
    item = body[0]
    for key in item:
        if key not in RECURRENT_KEYS:
            problems.append((f"{where}.{clip_text(str(key))}", f"unknown key {show(key)}"
                             f"{did_you_mean(str(key), RECURRENT_KEYS)} (a recurrent layer takes: "
                             f"{', '.join(RECURRENT_KEYS)})"))
    units = item.get("units")
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        problems.append((f"{where}.units", f"got {show(units)}; expected the number of hidden units (≥ 1)"))
    elif not _fits(units, features, outputs, steps):
        problems.append((f"{where}.units", f"got {show(units)}; {units} units would need more memory than this "
                         "machine has (W alone is units² values)"))
    given_default = "activation" in (raw.get("network") or {})
    activation = item.get("activation", net_cfg.activation if given_default else "tanh")
    if activation not in RECURRENT_ACTIVATIONS:
        path = f"{where}.activation" if "activation" in item else "network.activation"
        problems.append((path, f"got {show(activation)}; a recurrent layer uses {', '.join(RECURRENT_ACTIVATIONS)}"))
    leak = item.get("leak", 0.0)
    if isinstance(leak, bool) or not isinstance(leak, (int, float)) or not 0.0 <= leak < 1.0:  # NaN fails too
        problems.append((f"{where}.leak", f"got {show(leak)}; expected α in [0, 1): h_t = α h_{{t−1}} + (1−α)(…), "
                         "0 is the notes' Elman unit"))
    init = item.get("init", "pytorch")
    if init not in RECURRENT_INITS:
        problems.append((f"{where}.init", f"got {show(init)}; expected one of {', '.join(RECURRENT_INITS)}"))
    gain = item.get("gain", 1.0)
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not (gain > 0 and math.isfinite(gain)):
        problems.append((f"{where}.gain", f"got {show(gain)}; expected a positive number (orthogonal W's scale)"))
    out_path = f"network.layers[{start + 1}]"
    if body[1] != outputs:
        problems.append((out_path, f"got {show(body[1])}; the dataset needs {outputs} output"
                         f"{'s' if outputs > 1 else ''} ({'real-valued' if regression else 'one per class'})"))
    wanted = "linear" if regression else "softmax"
    output = net_cfg.output_activation or wanted
    if output != wanted:
        problems.append(("network.output_activation", f"got {output}; this dataset needs {wanted} "
                         f"({'regression, squared error' if regression else 'classes, cross-entropy'})"))
    if net_cfg.dtype != "float64":
        problems.append(("network.dtype", "recurrent nets run in float64 only"))
    if problems:
        return None, "", 1.0
    net = RecurrentNet(features, units, outputs, steps, activation, output, float(leak))
    return net, init, float(gain)


def _fits(units: int, features: int, outputs: int, steps: int) -> bool:
    """Whether the parameters, an optimiser's two moments and the per-step buffers fit in memory."""
    from rulelab.scenario.limits import memory_bytes

    values = 3 * (units * units + units * features + units + outputs * units + outputs) + 2 * (steps + 1) * units
    return 8 * values <= memory_bytes()


def sequence_rules(model: ScenarioModel, registry: dict[str, type[Rule]], net: RecurrentNet,
                   problems: list[tuple[str, str]]) -> list[tuple[str, type[Rule], Any]]:
    """(label, rule, hyperparameters) of each entry: sequence rules and compiled evolution strategies."""
    out, labels = [], {}
    for i, entry in enumerate(model.rules):
        where = f"rules[{i}]"
        rule = entry_rule(entry, where, registry, problems,
                          f"a sequence task takes one rule per entry ({SEQUENCE_KINDS}); no stages",
                          "every rule of a sequence task trains the task's network; drop it")
        if rule is None:
            continue
        compiled_es = rule.kind == "population" and rule.ask_kernel is not None and rule.tell_kernel is not None
        if rule.kind != "sequence" and not compiled_es:
            problems.append((f"{where}.rule", f"rule '{rule.name}' ({rule.family}, kind {rule.kind}) does not train "
                             f"recurrent nets; use {SEQUENCE_KINDS}"))
            continue
        params = entry_params(rule, entry, where, problems)
        if params is None:
            continue
        label = claim_label(entry, rule, i, labels, problems)
        out.append((label, rule, params))
    return out


def sequence_problems(model: ScenarioModel) -> list[tuple[str, str]]:
    """Keys a sequence task does not take."""
    problems = []
    task = model.task
    for key in ("corruption", "weights_from", "loss"):
        if getattr(task, key) is not None:
            problems.append((f"task.{key}", f"a sequence task does not take {key}"))
    if task.validation_fraction or task.stratify or task.standardize:
        problems.append(("task", "a sequence task splits train/test only (no validation_fraction, stratify, "
                                 "standardize)"))
    budget = model.train.budget
    if budget is not None and budget.unit not in ("samples", "forward_passes"):
        problems.append((f"train.budget.{budget.unit}", "a sequence task's budget is samples or forward_passes"))
    stop = model.train.stop
    if stop is not None and stop.objective is not None:
        problems.append(("train.stop.objective", "applies to task kind objective only"))
    for k, name in enumerate(model.metrics or []):
        if name not in SEQUENCE_METRICS:
            problems.append((f"metrics[{k}]", f"got {name}; a sequence task measures {', '.join(SEQUENCE_METRICS)}"))
    return problems


def resolve_sequence(resolver) -> Any:
    """The Scenario of a sequence task (called by rulelab.scenario.resolve.Resolver)."""
    from rulelab.registry import RegistryError, available_rules
    from rulelab.scenario.errors import ScenarioError
    from rulelab.scenario.resolve import RuleSpec, Scenario

    m = resolver.model
    problems = resolver.problems
    problems.extend(sequence_problems(m))
    try:
        registry = available_rules(list(m.plugins) + list(resolver.extra_plugins), resolver.base_dir)
    except RegistryError as exc:
        raise ScenarioError(resolver.source, [("plugins", str(exc))]) from None
    name, options = dataset_choice(m, problems)
    if options is None:
        raise resolver.fail()
    shape = data_shape(name, options)
    net, init, gain = recurrent_network(resolver.raw, m, shape, problems)
    if net is None:
        raise resolver.fail()
    entries = sequence_rules(m, registry, net, problems)
    if problems:
        raise resolver.fail()
    test_fraction = 0.2 if m.task.test_fraction is None else m.task.test_fraction
    task = m.task.model_copy(update={"test_fraction": test_fraction})
    init_config = InitConfig(scheme="pytorch")
    specs = tuple(RuleSpec(label, rule, params, net, init_config) for label, rule, params in entries)
    metrics = tuple(m.metrics) if m.metrics else (("train_accuracy", "train_loss") +
                                                  (("test_accuracy", "test_loss") if test_fraction > 0 else ()))
    scenario = Scenario(name=m.name, description=m.description, seed=m.seed, repeats=m.repeats, task=task,
                        dataset_name=name, dataset_options=options, train=m.train, rules=specs, metrics=metrics,
                        source=resolver.source, base_dir=resolver.base_dir, resolved={})
    layer = {"kind": "recurrent", "units": net.hidden, "activation": net.activation, "leak": net.leak,
             "init": init, "gain": gain}
    resolved = resolved_scenario(
        m, resolver.base_dir,
        {"kind": "sequence", "dataset": {"name": name, **options.model_dump()}, "test_fraction": test_fraction},
        specs, metrics,
        network={"layers": [[net.steps, net.features], layer, net.classes], "output_activation": net.output})
    object.__setattr__(scenario, "resolved", resolved)
    return scenario


def sequence_init(scenario: Any) -> tuple[str, float]:
    """(scheme, gain) of the recurrent layer, from the resolved scenario."""
    layer = scenario.resolved["network"]["layers"][1]
    return layer["init"], float(layer["gain"])

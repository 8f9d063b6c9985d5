"""The second pass of validation: what depends on more than one part of the file; the resolved Scenario."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from rulelab.core import kernels as K
from rulelab.core.network import LayerShapeError, LayerSpec, Network, layer_shapes, n_layer_params, output_shape, \
    tie_problem
from rulelab.data.datasets import DATASETS, Dataset, DatasetProblem, DataShape
from rulelab.registry import plugin_as_saved
from rulelab.rule import Rule
from rulelab.scenario.errors import ScenarioError, clip_text, did_you_mean, pydantic_problems, show
from rulelab.scenario.keypaths import parse_key_path
from rulelab.scenario.layers import input_shape, layer_spec
from rulelab.scenario.limits import INT64_MAX, MAX_RUNS, format_bytes, format_count, memory_bytes
from rulelab.scenario.entries import resolved_scenario
from rulelab.scenario.objective import non_objective_problems, objective_problems, objective_rules
from rulelab.scenario.schema import (OBJECTIVE_KEYS, _NO_SPLIT_DATASETS, InitConfig, NetworkConfig,
                                     ScenarioModel, TaskConfig, TrainConfig)
from rulelab.tasks.kinds import TaskKind, kind_of
from rulelab.tasks.objective import OBJECTIVE_METRICS, SearchSpace


@dataclass(frozen=True)
class Stage:
    """One stage of training: a rule, its hyperparameters, and its epochs (None: train.epochs)."""

    rule: type[Rule]
    params: Any
    epochs: int | None = None


@dataclass(frozen=True)
class RuleSpec:
    """One entry of a comparison, fully resolved: a rule, or stages of rules on the same weights."""

    label: str
    rule: type[Rule]  # the (last) rule
    params: Any  # its HyperParameters instance
    network: Network
    init: InitConfig
    stages: tuple[Stage, ...] = ()

    def __post_init__(self) -> None:
        if not self.stages:
            object.__setattr__(self, "stages", (Stage(self.rule, self.params),))

    @property
    def family(self) -> str:
        return " → ".join(dict.fromkeys(stage.rule.family for stage in self.stages))


@dataclass(frozen=True)
class WeightsSource:
    """Initial weights: a previous run's weights.npz (``path``), or an earlier task of the same file
    (``task``; its path is bound when that task has run).  ``rule`` takes one label's weights for
    every rule; ``layers`` copies only those layers, the others start from network.init."""

    path: Path | None
    task: str | None = None
    rule: str | None = None
    layers: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: plain values, ready to build and run."""

    name: str
    description: str
    seed: int
    repeats: int
    task: TaskConfig
    dataset_name: str
    dataset_options: Any
    train: TrainConfig
    rules: tuple[RuleSpec, ...]
    metrics: tuple[str, ...]
    source: str
    base_dir: Path
    resolved: dict[str, Any]  # the scenario as it will run, defaults filled in
    weights_from: WeightsSource | None = None
    image_shape: tuple[int, int] | None = None
    sample_shape: tuple[int, ...] | None = None  # the dataset's shape of one sample (None: flat)

    def as_yaml(self) -> str:
        """The scenario as run, as a run directory saves it (scenario.yaml): it validates to the same."""
        from rulelab.scenario.yaml_reader import dump_yaml

        return dump_yaml(self.resolved)

    @property
    def seeds(self) -> list[int]:
        """One seed per repeat, shared by every rule so that comparisons are paired."""
        return [self.seed + r for r in range(self.repeats)]

    def make_dataset(self, rng: np.random.Generator) -> Dataset:
        return DATASETS[self.dataset_name].make(self.dataset_options, rng, self.base_dir)



class Resolver:
    """Checks that need more than one part of the file, and fills in defaults."""

    def __init__(self, model: ScenarioModel, raw: dict[str, Any], source: str, base_dir: Path,
                 extra_plugins: list[str] | tuple[str, ...]):
        self.model = model
        self.raw = raw
        self.source = source
        self.base_dir = base_dir
        self.extra_plugins = tuple(extra_plugins)
        self.problems: list[tuple[str, str]] = []

    def fail(self) -> ScenarioError:
        return ScenarioError(self.source, self.problems)

    def resolve(self) -> Scenario:
        from rulelab.registry import RegistryError, available_rules

        m = self.model
        self._check_run_count()
        kind = kind_of(m.task)
        options = self._task_options(kind)
        own = kind.resolve(self)  # objective and sequence tasks have resolvers of their own
        if own is not None:
            return own
        self.problems.extend(non_objective_problems(m))
        if self.problems:
            raise self.fail()
        dataset_name, dataset_options = self._dataset()
        data = self._data_shape(dataset_name, dataset_options) if not self.problems else None
        if data is None:
            raise self.fail()
        try:
            registry = available_rules(list(m.plugins) + list(self.extra_plugins), self.base_dir)
        except RegistryError as exc:
            raise ScenarioError(self.source, [("plugins", str(exc))]) from None
        test_fraction, dataset_options = self._test_fraction(dataset_name, dataset_options)
        if m.task.stratify and not data.has_labels:
            self.problems.append(("task.stratify", "a stratified split needs class labels; this dataset has none"))
        loss = m.task.loss or ("cross_entropy" if _output_activation(m.network) == "softmax" else "squared")
        if m.task.corruption is not None and kind.targets != "inputs":
            self.problems.append(("task.corruption", "input corruption applies to kind: autoencoding only"))
        c = m.task.corruption
        if c is not None and c.kind in ("bitflip", "mask") and c.level >= 1:
            self.problems.append(("task.corruption.level", f"got {c.level}; a fraction of inputs must be < 1"))
        self._check_task_settings(data)
        specs = self._rules(registry, data, kind, loss)
        if kind.stores_patterns and not self.problems:
            self._check_association(specs, data)
        elif not self.problems:
            for i, spec in enumerate(specs):
                if spec.rule.kind == "associative":
                    self.problems.append((f"rules[{i}].rule", f"rule '{spec.rule.name}' stores patterns: "
                                          "use it with task kind: association"))
        if self.problems:
            raise self.fail()
        task = m.task.model_copy(update={"test_fraction": test_fraction, "loss": loss, "options": options})
        metrics = tuple(m.metrics) if m.metrics else kind.default_metrics(task, test_fraction)
        if not m.metrics and any(getattr(st.params, "l2", 0.0) for spec in specs for st in spec.stages):
            # Weight decay: the full objective J = loss + λ R(W) is summarised next to each loss.
            metrics += tuple(name.replace("_loss", "_objective") for name in metrics
                             if name in ("train_loss", "validation_loss", "test_loss"))
        scenario = Scenario(
            name=m.name, description=m.description, seed=m.seed, repeats=m.repeats, task=task,
            dataset_name=dataset_name, dataset_options=dataset_options, train=m.train,
            rules=tuple(specs), metrics=metrics, source=self.source, base_dir=self.base_dir,
            resolved={}, weights_from=self._weights_source(),
            image_shape=data.image_shape, sample_shape=data.sample_shape,
        )
        object.__setattr__(scenario, "resolved", self._resolved_dict(scenario))
        return scenario

    def _task_options(self, kind: TaskKind) -> dict[str, Any] | None:
        """task.options checked against the kind's own Options model, defaults filled in (None: the kind has none)."""
        given = self.model.task.options
        if kind.Options is None:
            if given is not None:
                self.problems.append(("task.options", f"task kind '{kind.name}' takes no options"))
            return None
        try:
            return kind.Options.model_validate(given or {}).model_dump()
        except ValidationError as exc:
            self.problems.extend(pydantic_problems(exc, ("task", "options"), kind.Options, given=given or {}))
            return None

    def resolve_objective(self) -> Scenario:
        """Task kind objective: a function of x ∈ R^D searched by evolution strategies (no data, no network)."""
        from rulelab.registry import RegistryError, available_rules

        m = self.model
        try:
            registry = available_rules(list(m.plugins) + list(self.extra_plugins), self.base_dir)
        except RegistryError as exc:
            raise ScenarioError(self.source, [("plugins", str(exc))]) from None
        self.problems.extend(objective_problems(m, self.raw))
        entries = objective_rules(m, registry, self.problems)
        if self.problems:
            raise self.fail()
        space = SearchSpace(m.task.dimension, m.task.function)
        specs = tuple(RuleSpec(label, rule, params, space, InitConfig()) for label, rule, params in entries)
        task = m.task.model_copy(update={"shift": bool(m.task.shift), "rotate": bool(m.task.rotate),
                                         "x0": 1.0 if m.task.x0 is None else m.task.x0})
        metrics = tuple(m.metrics) if m.metrics else OBJECTIVE_METRICS
        scenario = Scenario(name=m.name, description=m.description, seed=m.seed, repeats=m.repeats, task=task,
                            dataset_name="", dataset_options=None, train=m.train, rules=specs, metrics=metrics,
                            source=self.source, base_dir=self.base_dir, resolved={})
        resolved = resolved_scenario(m, self.base_dir,
                                     {"kind": "objective", **{key: getattr(task, key) for key in OBJECTIVE_KEYS}},
                                     specs, metrics)
        object.__setattr__(scenario, "resolved", resolved)
        return scenario

    def _test_fraction(self, dataset_name: str, dataset_options: Any) -> tuple[float, Any]:
        """task.test_fraction, or the dataset's own train share (playground sets), or the default;
        with the dataset options made to agree with it (so that the resolved file re-validates)."""
        task = self.model.task
        train_percent = getattr(dataset_options, "train_percent", None)
        if train_percent is not None:
            from_dataset = 1.0 - train_percent / 100.0
            if task.test_fraction is None:
                return from_dataset, dataset_options
            if "train_percent" not in dataset_options.model_fields_set:
                agreed = round(100.0 * (1.0 - task.test_fraction), 9)
                return task.test_fraction, dataset_options.model_copy(update={"train_percent": agreed})
            if not math.isclose(task.test_fraction, from_dataset, abs_tol=1e-9):
                self.problems.append(("task.test_fraction", f"got {task.test_fraction}, but task.dataset.train_percent: "
                                      f"{train_percent:g} asks for {from_dataset:g}; give one of the two"))
            return task.test_fraction, dataset_options
        if task.test_fraction is not None:
            return task.test_fraction, dataset_options
        no_split = dataset_name in _NO_SPLIT_DATASETS or not kind_of(task).splits_by_default
        return (0.0 if no_split else 0.25), dataset_options

    def _check_run_count(self) -> None:
        """Every rule runs on every seed: refuse counts no machine can run, before a seed list is made."""
        m = self.model
        runs = len(m.rules) * m.repeats
        if runs > MAX_RUNS:
            rules = f"{len(m.rules)} rule" + ("s" if len(m.rules) > 1 else "")
            self.problems.append(("repeats", f"got {format_count(m.repeats)}; {rules} × "
                                  f"{format_count(m.repeats)} seeds = {format_count(runs)} runs, more than the "
                                  f"{format_count(MAX_RUNS)} one comparison can hold (each run keeps its record "
                                  "and curves)"))
        if m.seed + m.repeats - 1 > INT64_MAX:
            self.problems.append(("seed", f"got {format_count(m.seed)}; seed + repeats − 1 must fit 64 bits "
                                  f"(at most {INT64_MAX})"))

    def _data_shape(self, name: str, options: Any) -> DataShape | None:
        """The dataset's sizes, learnt without generating it; None (and a problem) if it cannot be made."""
        try:
            shape = DATASETS[name].describe(options, self.base_dir)
        except DatasetProblem as exc:
            self.problems.append((f"task.dataset.{exc.key}" if exc.key else "task.dataset", str(exc)))
            return None
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            self.problems.append(("task.dataset", f"cannot read{where}: {exc.strerror or exc}"))
            return None
        except ValueError as exc:
            self.problems.append(("task.dataset", f"cannot load: {clip_text(str(exc), 200)}"))
            return None
        targets = f" and {shape.n_targets} targets" if shape.n_targets else ""
        if not self._fits_memory("task.dataset", shape.nbytes, f"the dataset would take {{}} "
                                 f"({format_count(shape.n_rows)} rows × {format_count(shape.n_features)} "
                                 f"features{targets}, float64)"):
            return None
        return shape

    def _fits_memory(self, path: str, nbytes: int, what: str) -> bool:
        """Whether ``nbytes`` fit this machine's memory; if not, a problem saying what would be allocated
        (``what`` has a {} where the size goes)."""
        limit = memory_bytes()
        if nbytes <= limit:
            return True
        self.problems.append((path, what.format(format_bytes(nbytes)) +
                              f"; this machine has {format_bytes(limit)} of memory"))
        return False

    def _check_task_settings(self, data: DataShape) -> None:
        task = self.model.task
        ref = task.weights_from
        if ref is not None and not isinstance(ref, str) and (ref.run is None) == (ref.task is None):
            self.problems.append(("task.weights_from", "give either run (a previous run's directory) or task (an "
                                                       "earlier task of this file)"))
            return
        run_ref = ref if isinstance(ref, str) else getattr(ref, "run", None)
        if run_ref is not None and self.weights_path(run_ref) is None:
            self.problems.append(("task.weights_from" + ("" if isinstance(ref, str) else ".run"),
                                  f"no weights.npz in {show(run_ref)} (give the directory of a previous rulelab run)"))
        if ref is not None and not isinstance(ref, str) and ref.layers is not None:
            net = self._base_network(data)
            if net is not None:
                for j, layer in enumerate(ref.layers):
                    if not 0 <= layer < net.n_layers:
                        self.problems.append((f"task.weights_from.layers[{j}]", f"got {layer}; the network has "
                                              f"layers 0 … {net.n_layers - 1}"))
        problems = kind_of(task).task_problems(task, lambda: self._base_network(data))  # may replace self.problems
        self.problems.extend(problems)

    def _base_network(self, data: DataShape) -> Network | None:
        """The scenario's shared network, or None if it has problems (they are reported with each rule)."""
        kept = list(self.problems)
        net, _ = self._network(self.raw.get("network", {}), None, "network", data, kind_of(self.model.task))
        self.problems = kept
        return net

    def _weights_source(self) -> WeightsSource | None:
        ref = self.model.task.weights_from
        if ref is None:
            return None
        if isinstance(ref, str):
            return WeightsSource(self.weights_path(ref))
        return WeightsSource(self.weights_path(ref.run) if ref.run is not None else None, ref.task, ref.rule,
                             tuple(ref.layers) if ref.layers is not None else None)

    def weights_path(self, ref: str) -> Path | None:
        """The weights.npz a run directory (or file) ``ref`` names (cwd first, then beside the scenario)."""
        for base in (Path.cwd(), self.base_dir):
            try:
                candidate = (base / ref).expanduser()
                if candidate.is_dir():
                    candidate = candidate / "weights.npz"
                if candidate.is_file():
                    return candidate
            except (RuntimeError, OSError):  # ~user without a home here, a name too long: no weights there
                continue
        return None

    def _dataset(self) -> tuple[str, Any]:
        ref = self.model.task.dataset
        if isinstance(ref, str):
            name, options = ref, {}
        else:
            options = dict(ref)
            name = options.pop("name", None)
            if name is None:
                self.problems.append(("task.dataset.name", "missing; give the dataset's name"))
                return "", None
            if not isinstance(name, str):
                self.problems.append(("task.dataset.name", f"got {show(name)}; expected a dataset name "
                                      f"(one of {', '.join(DATASETS)})"))
                return "", None
        if name not in DATASETS:
            path = "task.dataset" if isinstance(ref, str) else "task.dataset.name"
            self.problems.append((path, f"unknown dataset {show(name)}{did_you_mean(name, list(DATASETS))} "
                                        f"(available: {', '.join(DATASETS)})"))
            return name, None
        Options = DATASETS[name].Options
        try:
            return name, Options.model_validate(options)
        except ValidationError as exc:
            self.problems.extend(pydantic_problems(exc, ("task", "dataset"), Options, given=options))
            return name, None

    def _rules(self, registry: dict[str, type[Rule]], data: DataShape, kind: TaskKind, loss: str) -> list[RuleSpec]:
        specs: list[RuleSpec] = []
        labels_seen: dict[str, int] = {}
        base_network = self.raw.get("network", {})
        for i, entry in enumerate(self.model.rules):
            where = f"rules[{i}]"
            if (entry.rule is None) == (entry.stages is None):
                self.problems.append((where, "give either rule: NAME or stages: [{rule: …}, …]"))
                continue
            network, init = self._network(base_network, entry.network, f"{where}.network", data, kind)
            items = ([(f"{where}", {"rule": entry.rule, **(entry.model_extra or {})})] if entry.stages is None
                     else [(f"{where}.stages[{k}]", dict(st)) for k, st in enumerate(entry.stages)])
            if entry.stages is not None and entry.model_extra:
                for key in entry.model_extra:
                    self.problems.append((f"{where}.{key}", "with stages, hyperparameters go inside each stage"))
            stages = []
            for stage_where, item in items:
                stage = self._stage(registry, item, stage_where, network, data, kind, loss,
                                    f"{where}.network" if entry.network else stage_where,
                                    in_pipeline=entry.stages is not None)
                if stage is not None:
                    stages.append(stage)
            if len(stages) != len(items) or network is None:
                continue
            rule, params = stages[-1].rule, stages[-1].params
            label = entry.label or "+".join(st.rule.name for st in stages)
            if label in labels_seen:
                self.problems.append((f"{where}.label", f"'{clip_text(label)}' is already used by "
                                      f"rules[{labels_seen[label]}]; "
                                      "give each entry of the same rule a distinct label"))
            labels_seen[label] = i
            specs.append(RuleSpec(label, rule, params, network, init, tuple(stages)))
        return specs

    def _stage(self, registry: dict[str, type[Rule]], item: dict[str, Any], where: str, network: Network | None,
               data: DataShape, kind: TaskKind, loss: str, network_where: str, in_pipeline: bool) -> Stage | None:
        """One rule (or one stage of a pipeline): name, hyperparameters, and what it needs."""
        name = item.pop("rule", None)
        epochs = item.pop("epochs", None) if in_pipeline else None
        if not isinstance(name, str):
            self.problems.append((f"{where}.rule", "missing; name the rule of this stage"))
            return None
        rule = registry.get(name)
        if rule is None:
            self.problems.append((f"{where}.rule", f"unknown rule {show(name)}{did_you_mean(name, list(registry))} "
                                                   f"(available: {', '.join(registry)})"))
            return None
        if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0):
            self.problems.append((f"{where}.epochs", f"got {show(epochs)}; expected a whole number ≥ 0"))
            return None
        try:
            rule.Params()
        except ValidationError as exc:
            first = exc.errors()[0]
            self.problems.append((f"{where}.rule", f"rule '{name}' from {rule.source or 'unknown source'} declares "
                                  f"invalid hyperparameter defaults ({'.'.join(map(str, first['loc']))}: "
                                  f"{first['msg']}); fix its Params class"))
            return None
        try:
            params = rule.Params.model_validate(item)
        except ValidationError as exc:
            self.problems.extend(pydantic_problems(exc, tuple(parse_key_path(where)), rule.Params, given=item))
            return None
        if getattr(params, "loss", None) == "task":
            # Gradient rules descend the task's loss unless told otherwise.
            params = params.model_copy(update={"loss": loss})
        if network is None:
            return None
        if in_pipeline and rule.kind != "online":
            self.problems.append((f"{where}.rule", f"rule '{name}' ({rule.kind}) cannot be a stage; "
                                                   "stages take online rules"))
            return None
        problem = rule(params).network_problem(network)
        if problem is None and network.tied and not rule.supports_tied_weights:
            problem = (f"rule '{rule.name}' does not keep tied weights in sync; "
                       "train a tied autoencoder with a gradient rule (backprop, feedback_alignment, …)")
        if problem:
            self.problems.append((network_where, problem))
        else:
            self._rule_fits_memory(rule, params, network, where)
        if rule.needs.labels and not data.has_labels and not data.n_targets and kind.targets != "inputs":
            self.problems.append((f"{where}.rule", f"rule '{rule.name}' needs labels but the dataset has none"))
        return Stage(rule, params, epochs)

    def _rule_fits_memory(self, rule: type[Rule], params: Any, network: Network, where: str) -> None:
        """One run holds the parameters, the rule's state and, for a population rule, every member."""
        itemsize = network.np_dtype.itemsize
        members = getattr(params, "population", 0) if rule.kind == "population" else 0
        state = rule(params).state_size(network)
        total = itemsize * (network.n_params * (1 + members) + state)
        parts = f"{format_count(network.n_params)} parameters"
        parts += f" × {format_count(1 + members)} (population)" if members else ""
        parts += f" + {format_count(state)} of rule state" if state else ""
        self._fits_memory(where, total, f"one run of rule '{rule.name}' would take {{}} ({parts}, "
                                        f"{network.dtype})")

    def _network(self, base: dict[str, Any], override: dict[str, Any] | None, where: str,
                 data: DataShape, kind: TaskKind) -> tuple[Network | None, InitConfig | None]:
        merged = copy.deepcopy(base) if isinstance(base, dict) else {}
        if override:
            merged.update(copy.deepcopy(override))
            # An override of the shared activation replaces per-layer settings inherited from the base.
            if "activation" in override:
                for key in ("activations", "output_activation"):
                    if key not in override:
                        merged.pop(key, None)
        try:
            cfg = NetworkConfig.model_validate(merged)
        except ValidationError as exc:
            if override:
                self.problems.extend(pydantic_problems(exc, tuple(parse_key_path(where)), NetworkConfig,
                                                       given=merged))
            return None, None
        path = where if override else "network"
        # Layers a rule inherits are reported once, where they are written.
        layers_path = path if override and "layers" in override else "network"
        built = self._layers(cfg, path, data, layers_path)
        if built is None:
            return None, None
        shape, specs, acts = built
        sizes = self._sizes_fit(shape, specs, acts, path, data, kind)
        if sizes is None:
            return None, None
        # Sizes in Python integers, before a layout table of 64-bit integers is built from them.
        n_params = self._n_params(shape, specs)
        itemsize = 4 if cfg.dtype == "float32" else 8
        if not self._fits_memory(f"{layers_path}.layers", max(n_params, sum(sizes[1:])) * itemsize,
                                 f"{format_count(n_params)} parameters and {format_count(sum(sizes[1:]))} units "
                                 f"would take {{}} ({cfg.dtype})"):
            return None, None
        init = cfg.init if isinstance(cfg.init, InitConfig) else InitConfig(scheme=cfg.init)
        if init.scheme == "given" and not self._given_fits(init, shape, specs, f"{path}.init.layers"):
            return None, None
        at_zero = (("step", float(cfg.at_zero.step)), ("sign", float(cfg.at_zero.sign)))
        flat = all(isinstance(v, int) for v in cfg.layers)  # plain sizes: dense layers on a flat input
        if cfg.tied:
            problem = tie_problem(cfg.layers) if flat else "tied weights need a net of dense layers only"
            if problem:
                self.problems.append((f"{path}.tied", problem))
                return None, None
        if flat:  # the dense net as it always was
            return Network(tuple(cfg.layers), acts, cfg.leaky_slope, cfg.dtype, cfg.tied, at_zero=at_zero), init
        return Network.from_layers(shape, specs, acts, cfg.leaky_slope, cfg.dtype, at_zero), init

    @staticmethod
    def _n_params(shape: tuple[int, ...], specs: list[LayerSpec]) -> int:
        """Every layer's weights and biases, counted in Python integers."""
        total = 0
        for spec in specs:
            n_in = math.prod(shape)
            shape, geometry = output_shape(spec, shape)
            total += sum(n_layer_params(spec, geometry, n_in, math.prod(shape)))
        return total

    def _layers(self, cfg: NetworkConfig, path: str, data: DataShape, layers_path: str) \
            -> tuple[tuple[int, ...], list[LayerSpec], tuple[str, ...]] | None:
        """The input shape, the layer specs and one activation per layer, or None (problems recorded)."""
        before = len(self.problems)
        where = f"{layers_path}.layers"
        shape = input_shape(cfg.layers[0], f"{where}[0]", data.sample_shape, data.n_features, self.problems)
        specs = [layer_spec(item, f"{where}[{j}]", self.problems) for j, item in enumerate(cfg.layers[1:], 1)]
        if len(self.problems) > before or shape is None:
            return None
        n_layers = len(specs)
        if cfg.activations is not None:
            if len(cfg.activations) != n_layers:
                self.problems.append((f"{path}.activations", f"got {len(cfg.activations)} activations; "
                                      f"expected one per layer ({n_layers})"))
                return None
            defaults = list(cfg.activations)
        else:
            defaults = [cfg.activation if spec.weighted else "linear" for spec in specs]
            defaults[-1] = cfg.output_activation or (cfg.activation if specs[-1].weighted else "linear")
        acts = []
        for j, (spec, default) in enumerate(zip(specs, defaults), 1):
            act = spec.activation or default
            if spec.kind == "dropout" and act != "linear":
                self.problems.append((f"{path}.layers[{j}]", f"a dropout layer has no activation (got {act}); "
                                      "it only drops units"))
                return None
            acts.append(act)
        if "softmax" in acts[:-1]:
            self.problems.append((path, "softmax is only allowed on the output layer"))
            return None
        if specs[-1].kind in ("dropout", "flatten"):
            self.problems.append((f"{path}.layers[{n_layers}]", f"the output layer cannot be {specs[-1].kind}; "
                                  "end with a dense (or conv, or pooling) layer"))
            return None
        return shape, specs, tuple(acts)

    def _sizes_fit(self, shape: tuple[int, ...], specs: list[LayerSpec], acts: tuple[str, ...], path: str,
                   data: DataShape, kind: TaskKind) -> list[int] | None:
        """The flat sizes (input, then every layer) if they fit the data and the task, else None."""
        try:
            sizes = [math.prod(shape)] + [math.prod(s) for s in layer_shapes(shape, specs)]
        except LayerShapeError as exc:
            self.problems.append((f"{path}.layers[{exc.layer + 1}]", exc.reason))
            return None
        problems = kind.output_problems(sizes, acts, data, path)
        self.problems.extend(problems)
        return None if problems else sizes

    def _check_association(self, specs: list[RuleSpec], data: DataShape) -> None:
        a = self.model.task.association
        for k, f in enumerate(a.flip_fractions):
            if not 0.0 <= f <= 1.0:
                self.problems.append((f"task.association.flip_fractions[{k}]", f"got {f}; expected a fraction in [0, 1]"))
        for k, load in enumerate(a.loads or []):
            if load <= 0:
                self.problems.append((f"task.association.loads[{k}]", f"got {load}; expected a load α = p/N > 0"))
        n = data.n_features
        self._check_per_unit(a, n)
        if a.cues is not None:
            self._check_cues(a, n)
        for i, spec in enumerate(specs):
            if spec.rule.kind != "associative":
                self.problems.append((f"rules[{i}].rule", f"rule '{spec.rule.name}' does not store patterns; "
                                      "association tasks take storage rules (hopfield_hebbian, storkey, "
                                      "pseudo_inverse) or hopfield_given"))
                continue
            rule = spec.rule(spec.params)
            problem = rule.configuration_problem(spec.network.sizes[0])
            if problem:
                key, message = problem
                self.problems.append((f"rules[{i}].{key}", message))
                continue
            n_units = spec.network.sizes[0]
            # round(α N) patterns per load, in Python integers: a load of 1e300 is finite, α N may not be.
            counts = [max(1, round(load * n_units)) if math.isfinite(load * n_units) else None for load in a.loads or []]
            if None in counts:
                k = counts.index(None)
                self.problems.append((f"task.association.loads[{k}]", f"got {a.loads[k]:g}; load × {n_units} units "
                                      "is beyond any number of patterns"))
                return
            p = max(counts) if counts else data.n_rows
            problem = rule.capacity_problem(p, n_units)
            if problem:
                where = "task.association.loads" if a.loads else "task.dataset"
                self.problems.append((where, f"rules[{i}] ({spec.rule.name}): {problem}"))
            recall = 8 * (p * n_units + 2 * a.probes * n_units + a.probes * (a.max_sweeps + 1))
            self._fits_memory("task.association", recall, f"storing {format_count(p)} patterns and recalling "
                              f"{format_count(a.probes)} cues over up to {format_count(a.max_sweeps)} sweeps would "
                              "take {}")

    def _check_per_unit(self, a: Any, n: int) -> None:
        """Thresholds T_i and inputs I_i: one number for all units, or exactly one per unit."""
        for key in ("threshold", "external_input"):
            value = getattr(a, key)
            if isinstance(value, list) and len(value) != n:
                self.problems.append((f"task.association.{key}", f"got {len(value)} values; expected one number "
                                      f"for every unit or one per unit ({n})"))

    def _check_cues(self, a: Any, n: int) -> None:
        """Explicit cues: ±1 states of n units, recalled as given (no cue noise, no loads, no probe count)."""
        for k, cue in enumerate(a.cues):
            if len(cue) != n:
                self.problems.append((f"task.association.cues[{k}]", f"got {len(cue)} values; the network has {n} units"))
            elif not set(cue) <= {-1.0, 1.0}:
                bad = next(v for v in cue if v not in (-1.0, 1.0))
                self.problems.append((f"task.association.cues[{k}]", f"got {bad:g}; a cue state is bipolar (±1)"))
        for key in ("flip_fractions", "loads", "probes"):
            # Left at its default (as a resolved scenario.yaml writes it) it is simply not used.
            if getattr(a, key) != type(a).model_fields[key].default:
                self.problems.append((f"task.association.{key}", "explicit cues are recalled as given; "
                                      f"drop {key} (it applies to noisy copies of the stored patterns)"))

    def _given_fits(self, init: InitConfig, shape: tuple[int, ...], specs: list[LayerSpec], path: str) -> bool:
        """Given weights: one entry per layer with weights, each holding that layer's weights (and biases)."""
        weighted = [layer for layer, spec in enumerate(specs) if spec.weighted]
        if init.layers is None or len(init.layers) != len(weighted):
            got = 0 if init.layers is None else len(init.layers)
            self.problems.append((path, f"got {got} layers of weights; expected {len(weighted)} (one per layer "
                                        "with weights)"))
            return False
        net = Network.from_layers(shape, specs, ["linear"] * len(specs))
        for index, (layer, spec) in enumerate(zip(weighted, init.layers)):
            n_out, n_in = net.weight_shape(layer)
            rows = [row for row in spec.weights if isinstance(row, list)]
            ragged = next((r for r, row in enumerate(rows) if len(row) != len(rows[0])), None)
            if ragged is not None:
                self.problems.append((f"{path}[{index}].weights[{ragged}]", f"got {len(rows[ragged])} weights; "
                                      f"expected {len(rows[0])}, like weights[0] (one row of {n_in} "
                                      f"weights per unit)"))
                return False
            n_w = sum(len(row) for row in rows) if rows else len(spec.weights)
            if n_w != n_in * n_out:
                self.problems.append((f"{path}[{index}].weights", f"got {n_w} weights; expected "
                                      f"{n_out}×{n_in} = {n_in * n_out}"))
                return False
            n_b = int(K.n_biases(net.layout, layer))
            if spec.bias is not None and len(spec.bias) != n_b:
                self.problems.append((f"{path}[{index}].bias", f"got {len(spec.bias)} biases; expected {n_b}"))
                return False
        return True

    def _resolved_dict(self, s: Scenario) -> dict[str, Any]:
        """The scenario as run, with every default written out."""
        m = self.model
        dataset = {"name": s.dataset_name, **s.dataset_options.model_dump()}
        out: dict[str, Any] = {
            "name": m.name,
            "description": m.description,
            "seed": m.seed,
            "repeats": m.repeats,
            "task": {**{k: v for k, v in s.task.model_dump().items()
                        if k not in OBJECTIVE_KEYS and not (k == "options" and v is None)},
                     "dataset": dataset},
            "network": m.network.model_dump(exclude_none=True),
            "train": m.train.model_dump(exclude_none=True),
            "rules": [],
            "metrics": list(s.metrics),
        }
        if m.plugins:
            out["plugins"] = [plugin_as_saved(spec, self.base_dir) for spec in m.plugins]
        for entry, spec in zip(m.rules, s.rules):
            if entry.stages is not None:
                item = {"label": spec.label, "stages": [
                    {"rule": st.rule.name, **({"epochs": st.epochs} if st.epochs is not None else {}),
                     **st.params.model_dump()} for st in spec.stages]}
            else:
                item = {"rule": spec.rule.name, "label": spec.label, **spec.params.model_dump()}
            if entry.network:
                item["network"] = dict(entry.network)
            out["rules"].append(item)
        return out

def _output_activation(cfg: NetworkConfig) -> str:
    if cfg.activations:
        return cfg.activations[-1]
    return cfg.output_activation or cfg.activation

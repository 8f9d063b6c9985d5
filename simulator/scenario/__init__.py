"""Scenario files: loading, command-line overrides, validation and defaults.

A scenario is read with ``yaml.safe_load`` only, then validated in two passes:
the shape of the file (pydantic models below), then what depends on the rest of
the file (the dataset's options, each rule's hyperparameters, layer sizes that
must fit the data).  Every problem becomes one line naming the file, the key
path (``rules[1].lr``), what was given and what is expected.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rulelab.data.datasets import DATASETS, Dataset
from rulelab.core.network import Network, tie_problem
from rulelab.rule import Rule

ActivationName = Literal["linear", "step", "sign", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
METRICS = ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "validation_accuracy", "validation_loss",
           "test_denoising_loss", "pc_angle_0",
           "weight_norm", "overlap_mean", "overlap", "exact_recall", "sweeps")
# Tiny fixed tables are evaluated on themselves: a split would remove a row of the truth table.
INPUT_KINDS = ("activation_maximisation", "adversarial")  # trained as classification, then inputs optimised
_NO_SPLIT_DATASETS = {"and", "or", "nand", "xor", "parity", "table"}


class ScenarioError(Exception):
    """A scenario (or an override) is invalid; ``problems`` are (key path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__(self.format())

    def format(self) -> str:
        lines = [f"{self.source}: {path}: {msg}" if path else f"{self.source}: {msg}"
                 for path, msg in self.problems]
        return "\n".join(lines)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GivenLayer(Model):
    weights: list[list[float]] | list[float]
    bias: list[float] | None = None


class InitConfig(Model):
    scheme: Literal["zeros", "uniform", "normal", "glorot", "he", "given"] = "glorot"
    scale: float = Field(0.5, gt=0, description="half-width of the uniform scheme")
    sigma: float = Field(0.1, gt=0, description="std of the normal scheme")
    bias: Literal["zeros", "same"] = "zeros"
    layers: list[GivenLayer] | None = None


class NetworkConfig(Model):
    layers: list[int] = Field(min_length=2)
    activation: ActivationName = "sigmoid"
    output_activation: ActivationName | None = None
    activations: list[ActivationName] | None = None
    leaky_slope: float = Field(0.01, ge=0)
    init: InitConfig | Literal["zeros", "uniform", "normal", "glorot", "he"] = "glorot"
    dtype: Literal["float64", "float32"] = "float64"
    tied: bool = Field(False, description="autoencoders: decoder weights are the encoder's transpose")


class CorruptionConfig(Model):
    kind: Literal["bitflip", "gaussian", "mask"] = Field(description="how inputs are corrupted")
    level: float = Field(gt=0, description="bitflip/mask: fraction of inputs (< 1); gaussian: noise std")


class OptimiseConfig(Model):
    """Settings of the input-optimisation task kinds (weights fixed, inputs move)."""

    layer: int = Field(-1, description="activation_maximisation: layer of the unit (−1: output layer)")
    units: list[int] | None = Field(None, description="activation_maximisation: units to maximise (default all)")
    steps: int = Field(200, ge=1, description="gradient steps per input (per budget tried, for adversarial)")
    lr: float = Field(0.1, gt=0, description="activation_maximisation: step size")
    l2: float = Field(0.0, ge=0, description="activation_maximisation: penalty λ‖x − x₀‖²")
    start: Literal["mean", "zeros"] = Field("mean", description="activation_maximisation: x₀, the data mean or 0")
    box: list[float] | None = Field(None, min_length=2, max_length=2,
                                    description="inputs are clipped to [low, high] (default: the data's range)")
    norm: Literal["linf", "l2"] = Field("linf", description="adversarial: norm of the perturbation")
    budget: float = Field(0.3, gt=0, description="adversarial: largest perturbation allowed")
    samples: int = Field(10, ge=1, description="adversarial: test samples to attack")


class AssociationConfig(Model):
    """Settings of the association task kind (Hopfield storage and recall)."""

    flip_fractions: list[float] = Field([0.1], min_length=1,
                                        description="cue noise: fraction of a stored pattern's units flipped")
    loads: list[float] | None = Field(None, min_length=1,
                                      description="load α = p/N: store round(α N) random patterns per value")
    probes: int = Field(100, ge=1, description="cues per condition (cycling through the stored patterns)")
    mode: Literal["async", "sync"] = Field("async", description="one unit at a time (random order) or all at once")
    max_sweeps: int = Field(20, ge=1, description="give up after this many sweeps without a fixed point")
    threshold: float = Field(0.0, description="T_i of every unit")
    external_input: float = Field(0.0, description="I_i of every unit")
    examples: int = Field(8, ge=0, description="cues, recalls and targets kept for the figures, per condition")


class TaskConfig(Model):
    kind: Literal["classification", "regression", "autoencoding", "activation_maximisation",
                  "adversarial", "unsupervised", "association"] = "classification"
    dataset: str | dict[str, Any]
    corruption: CorruptionConfig | None = Field(
        None, description="autoencoding: corrupt the inputs, keep the clean pattern as target (denoising)")
    optimise: OptimiseConfig = OptimiseConfig()
    association: AssociationConfig = AssociationConfig()
    weights_from: str | None = Field(
        None, description="start from a previous run's weights.npz (same rule labels and seeds)")
    test_fraction: float | None = Field(None, ge=0, lt=1)
    validation_fraction: float = Field(0.0, ge=0, lt=1,
                                       description="share of the training rows held out for tuning (sweeps)")
    standardize: bool = False
    loss: Literal["squared", "cross_entropy", "hinge"] | None = None


class StopConfig(Model):
    train_accuracy: float | None = Field(None, ge=0, le=1)
    test_accuracy: float | None = Field(None, ge=0, le=1)
    train_loss: float | None = Field(None, ge=0)
    early: bool = Field(True, description="stop training once a criterion is met")


class BudgetConfig(Model):
    """A training budget in one unit; every rule of a comparison gets the same."""

    samples: int | None = Field(None, gt=0, description="training rows seen (ES: rows per generation)")
    forward_passes: int | None = Field(None, gt=0, description="forward passes (ES: rows × members)")
    wall_seconds: float | None = Field(None, gt=0, description="training wall time, checked per epoch")

    @model_validator(mode="after")
    def _one_unit(self) -> "BudgetConfig":
        given = [k for k in ("samples", "forward_passes", "wall_seconds") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one budget unit (samples, forward_passes or wall_seconds); got {given}")
        return self

    @property
    def unit(self) -> str:
        return next(k for k in ("samples", "forward_passes", "wall_seconds") if getattr(self, k) is not None)

    @property
    def amount(self) -> float:
        return getattr(self, self.unit)

    def describe(self, epochs: int) -> str:
        return f"{self.amount:g} {self.unit.replace('_', ' ')} per run (at most {epochs} epochs)"


class TrainConfig(Model):
    epochs: int = Field(100, ge=0, description="passes over the training set (the cap when a budget is set)")
    batch_size: int = Field(1, ge=1)
    shuffle: bool = True
    stop: StopConfig | None = None
    budget: BudgetConfig | None = Field(None, description="stop each run after this much compute")

    def describe_budget(self) -> str:
        return self.budget.describe(self.epochs) if self.budget else f"{self.epochs} epochs per run"


class RuleEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    rule: str | None = Field(None, description="the rule's name (or give stages)")
    label: str | None = None
    network: dict[str, Any] | None = None
    stages: list[dict[str, Any]] | None = Field(
        None, description="train in stages on the same weights, e.g. a Hebbian layer then a readout")


class ScenarioModel(Model):
    name: str
    description: str = ""
    seed: int = Field(0, ge=0)
    repeats: int = Field(1, ge=1)
    task: TaskConfig
    network: NetworkConfig
    train: TrainConfig = TrainConfig()
    rules: list[RuleEntry] = Field(min_length=1)
    metrics: list[Literal[METRICS]] | None = None  # type: ignore[valid-type]
    plugins: list[str] = []
    sweep: dict[str, Any] | None = Field(None, description="hyperparameter grid: run it with rulelab sweep")


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
    weights_from: Path | None = None
    image_shape: tuple[int, int] | None = None

    @property
    def seeds(self) -> list[int]:
        """One seed per repeat, shared by every rule so that comparisons are paired."""
        return [self.seed + r for r in range(self.repeats)]

    def make_dataset(self, rng: np.random.Generator) -> Dataset:
        return DATASETS[self.dataset_name].make(self.dataset_options, rng, self.base_dir)


# ----------------------------------------------------------------- overrides

_PATH_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def parse_key_path(path: str) -> list[str | int]:
    """``rules[0].lr`` → ['rules', 0, 'lr']; raises ValueError on a malformed path."""
    tokens: list[str | int] = []
    pos = 0
    for part in path.split("."):
        if not part:
            raise ValueError(f"malformed key path {path!r}")
        matched = 0
        for m in _PATH_TOKEN.finditer(part):
            if m.start() != matched:
                raise ValueError(f"malformed key path {path!r}")
            tokens.append(m.group(1) if m.group(1) else int(m.group(2)))
            matched = m.end()
        if matched != len(part):
            raise ValueError(f"malformed key path {path!r}")
        pos += 1
    return tokens


def format_key_path(tokens: list[str | int] | tuple[Any, ...]) -> str:
    out = ""
    for t in tokens:
        out += f"[{t}]" if isinstance(t, int) else (f".{t}" if out else str(t))
    return out


class KeyPathError(ValueError):
    """A key path that cannot be set: ``kind`` is not_list, out_of_range, not_mapping or missing."""

    def __init__(self, where: str, kind: str, size: int = 0):
        super().__init__(f"{where}: {kind}")
        self.where, self.kind, self.size = where, kind, size


def set_key_path(raw: dict[str, Any], tokens: list[str | int], value: Any, create_missing: bool) -> None:
    """Set ``raw`` at a parsed key path; missing mapping keys on the way are created or refused."""
    node: Any = raw
    for i, token in enumerate(tokens):
        where = format_key_path(tokens[: i + 1])
        if isinstance(token, int):
            if not isinstance(node, list):
                raise KeyPathError(where, "not_list")
            if token >= len(node):
                raise KeyPathError(where, "out_of_range", len(node))
        elif not isinstance(node, dict):
            raise KeyPathError(where, "not_mapping")
        if i == len(tokens) - 1:
            node[token] = value
            return
        if isinstance(token, str) and token not in node:
            if not create_missing:
                raise KeyPathError(where, "missing")
            node[token] = {}
        node = node[token]


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``PATH=VALUE`` (VALUE parsed as YAML) to the raw scenario dict in place."""
    if "=" not in assignment:
        raise ScenarioError("--set", [(assignment, "expected PATH=VALUE, e.g. rules[0].lr=0.2")])
    path, _, text = assignment.partition("=")
    path = path.strip()
    try:
        tokens = parse_key_path(path)
        value = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScenarioError("--set", [(path, str(exc))]) from None
    try:
        set_key_path(raw, tokens, value, create_missing=True)
    except KeyPathError as exc:
        words = {"not_list": "is not a list, so it cannot be indexed",
                 "out_of_range": f"index out of range (the list has {exc.size} items)",
                 "not_mapping": "its parent is not a mapping"}[exc.kind]
        raise ScenarioError("--set", [(exc.where, words)]) from None


# ----------------------------------------------------------------- loading


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError(str(path), [("", "file not found")]) from None
    except OSError as exc:
        raise ScenarioError(str(path), [("", f"cannot read: {exc.strerror}")]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(str(path), [("", f"not valid YAML: {where}{problem}")]) from None
    if not isinstance(raw, dict):
        raise ScenarioError(str(path), [("", f"expected a mapping of keys at the top, got {type(raw).__name__}")])
    return raw


TASK_ENTRY_KEYS = ("name", "description", "task", "network", "train")


def read_with_overrides(path: Path, overrides: list[str] | tuple[str, ...] = (), seed: int | None = None,
                        repeats: int | None = None) -> dict[str, Any]:
    """The raw scenario dict with command-line settings applied (flags win over the file)."""
    raw = read_yaml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    if seed is not None:
        raw["seed"] = seed
    if repeats is not None:
        raw["repeats"] = repeats
    return raw


def _deep_merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _deep_merge(base.get(key), value)
        return merged
    return copy.deepcopy(extra)


def split_tasks(raw: dict[str, Any], source: str) -> list[tuple[str, dict[str, Any]]]:
    """A file with ``tasks:`` is several comparisons of the same rules: one raw scenario per task.

    Each entry names the task and replaces ``task``; ``network`` and ``train`` given in an
    entry are merged over the shared ones.  Without ``tasks:`` the file is one comparison.
    """
    if "tasks" not in raw:
        return [("", raw)]
    entries = raw["tasks"]
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(source, [("tasks", "expected a non-empty list of {name, task, network?, train?}")])
    problems, out, names = [], [], set()
    base = {k: v for k, v in raw.items() if k != "tasks"}
    for i, entry in enumerate(entries):
        where = f"tasks[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "task" not in entry:
            problems.append((where, "expected a mapping with a name and a task"))
            continue
        unknown = [k for k in entry if k not in TASK_ENTRY_KEYS]
        for key in unknown:
            problems.append((f"{where}.{key}", f"unknown key '{key}'{did_you_mean(key, TASK_ENTRY_KEYS)} "
                                               f"(expected one of: {', '.join(TASK_ENTRY_KEYS)})"))
        if entry["name"] in names or not re.fullmatch(r"[A-Za-z0-9_.-]+", entry["name"]):
            problems.append((f"{where}.name", f"got {entry['name']!r}; expected a unique name of letters, "
                                              "digits, '-', '_' or '.'"))
        names.add(entry["name"])
        merged = copy.deepcopy(base)
        merged["task"] = copy.deepcopy(entry["task"])
        for key in ("network", "train"):
            if key in entry:
                merged[key] = _deep_merge(base.get(key, {}), entry[key])
        merged["name"] = f"{base.get('name', 'scenario')}-{entry['name']}"
        if "description" in entry:
            merged["description"] = entry["description"]
        out.append((entry["name"], merged))
    if problems:
        raise ScenarioError(source, problems)
    return out


def load_scenarios(path: str | Path, overrides: list[str] | tuple[str, ...] = (), seed: int | None = None,
                   repeats: int | None = None, plugins: list[str] | tuple[str, ...] = ()) -> list[tuple[str, Scenario]]:
    """Every comparison in a file: [("", scenario)] for a plain file, one per entry of ``tasks:``.

    Overrides apply to the file before it is split, so ``--set tasks[1].task.dataset=…`` works.
    """
    path = Path(path)
    raw = read_with_overrides(path, overrides, seed, repeats)
    result = []
    for name, part in split_tasks(raw, str(path)):
        try:
            result.append((name, validate_scenario(part, str(path), path.parent, extra_plugins=plugins)))
        except ScenarioError as exc:
            prefix = f"tasks '{name}': " if name else ""
            raise ScenarioError(exc.source, [(p, prefix + m) for p, m in exc.problems]) from None
    return result


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                  seed: int | None = None, repeats: int | None = None,
                  plugins: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file (raises :class:`ScenarioError`)."""
    scenarios = load_scenarios(path, overrides, seed, repeats, plugins)
    if len(scenarios) > 1 or scenarios[0][0]:
        names = ", ".join(name for name, _ in scenarios)
        raise ScenarioError(str(path), [("tasks", f"this file holds several comparisons ({names}); "
                                                  "load it with load_scenarios")])
    return scenarios[0][1]


def validate_scenario(raw: dict[str, Any], source: str = "<scenario>", base_dir: Path = Path("."),
                      extra_plugins: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Validate a raw scenario dict; every problem found is reported at once."""
    try:
        model = ScenarioModel.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(source, pydantic_problems(exc, (), ScenarioModel)) from None
    return _Resolver(model, raw, source, base_dir, extra_plugins).resolve()


def _output_activation(cfg: NetworkConfig) -> str:
    if cfg.activations:
        return cfg.activations[-1]
    return cfg.output_activation or cfg.activation


# ----------------------------------------------------------------- messages


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the last key of ``loc`` (for did-you-mean)."""
    current: Any = model
    for token in loc[:-1]:
        if isinstance(token, int) or current is None:
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(token)
        if field is None:
            return None
        current = _first_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _first_model(annotation: Any) -> Any:
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def pydantic_problems(exc: ValidationError, prefix: tuple[Any, ...],
                      model: type[BaseModel]) -> list[tuple[str, str]]:
    problems = []
    seen = set()
    for err in exc.errors():
        # Drop the union-branch tags pydantic adds (e.g. 'str', 'InitConfig', 'literal[...]').
        loc = tuple(t for t in err["loc"] if isinstance(t, int) or not _is_branch_tag(t))
        path = format_key_path(prefix + loc)
        if path in seen:
            continue
        seen.add(path)
        problems.append((path, _describe_error(err, loc, model)))
    return problems


def _is_branch_tag(token: str) -> bool:
    return (token[:1].isupper() or token.startswith(("literal[", "list[", "dict[", "function-"))
            or token in ("str", "int", "float", "bool"))


def _describe_error(err: dict[str, Any], loc: tuple[Any, ...], model: type[BaseModel]) -> str:
    kind = err["type"]
    given = err.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(model, loc)
        known = list(owner.model_fields) if owner else []
        hint = did_you_mean(loc[-1], known) if known else ""
        expected = f" (expected one of: {', '.join(known)})" if known else ""
        return f"unknown key '{loc[-1]}'{hint}{expected}"
    if kind == "value_error":  # a model-level check (e.g. an even population): its message says it all
        return err["msg"].removeprefix("Value error, ")
    if kind == "missing":
        return "missing; this key is required"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = re.findall(r"'([^']*)'", expected)
        return f"got {given!r}; expected one of {expected}{did_you_mean(given, choices)}"
    return f"got {given!r}; {err['msg'][0].lower()}{err['msg'][1:]}"


# ----------------------------------------------------------------- second pass


class _Resolver:
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
        dataset_name, dataset_options = self._dataset()
        if self.problems:
            raise self.fail()
        try:
            data = DATASETS[dataset_name].make(dataset_options, np.random.default_rng(m.seed), self.base_dir)
        except (OSError, ValueError) as exc:
            raise ScenarioError(self.source, [("task.dataset", f"cannot load: {exc}")]) from None
        try:
            registry = available_rules(list(m.plugins) + list(self.extra_plugins), self.base_dir)
        except RegistryError as exc:
            raise ScenarioError(self.source, [("plugins", str(exc))]) from None
        test_fraction = m.task.test_fraction
        if test_fraction is None:
            no_split = dataset_name in _NO_SPLIT_DATASETS or m.task.kind in ("association", "unsupervised")
            test_fraction = 0.0 if no_split else 0.25
        loss = m.task.loss or ("cross_entropy" if _output_activation(m.network) == "softmax" else "squared")
        if m.task.corruption is not None and m.task.kind != "autoencoding":
            self.problems.append(("task.corruption", "input corruption applies to kind: autoencoding only"))
        c = m.task.corruption
        if c is not None and c.kind in ("bitflip", "mask") and c.level >= 1:
            self.problems.append(("task.corruption.level", f"got {c.level}; a fraction of inputs must be < 1"))
        self._check_input_task(data)
        specs = self._rules(registry, data, m.task.kind, loss)
        if m.task.kind == "association" and not self.problems:
            self._check_association(specs, data)
        elif not self.problems:
            for i, spec in enumerate(specs):
                if spec.rule.kind == "associative":
                    self.problems.append((f"rules[{i}].rule", f"rule '{spec.rule.name}' stores patterns: "
                                          "use it with task kind: association"))
        if self.problems:
            raise self.fail()
        task = m.task.model_copy(update={"test_fraction": test_fraction, "loss": loss})
        metrics = tuple(m.metrics) if m.metrics else self._default_metrics(task, test_fraction)
        scenario = Scenario(
            name=m.name, description=m.description, seed=m.seed, repeats=m.repeats, task=task,
            dataset_name=dataset_name, dataset_options=dataset_options, train=m.train,
            rules=tuple(specs), metrics=metrics, source=self.source, base_dir=self.base_dir,
            resolved={}, weights_from=self.weights_path() if m.task.weights_from else None,
            image_shape=data.image_shape,
        )
        object.__setattr__(scenario, "resolved", self._resolved_dict(scenario))
        return scenario

    @staticmethod
    def _default_metrics(task: TaskConfig, test_fraction: float) -> tuple[str, ...]:
        if task.kind == "unsupervised":
            return ("pc_angle_0", "weight_norm")
        if task.kind == "association":
            return ("overlap_mean", "overlap", "exact_recall", "sweeps")
        names = ["train_loss"]
        if task.kind == "classification" or task.kind in INPUT_KINDS:
            names.insert(0, "train_accuracy")
        if task.validation_fraction > 0:
            names += ["validation_accuracy", "validation_loss"] if "train_accuracy" in names else ["validation_loss"]
        if test_fraction > 0:
            names += ["test_accuracy", "test_loss"] if "train_accuracy" in names else ["test_loss"]
            if task.kind == "autoencoding" and task.corruption is not None:
                names.append("test_denoising_loss")
        return tuple(names)

    def _check_input_task(self, data: Dataset) -> None:
        task = self.model.task
        if task.weights_from is not None and self.weights_path() is None:
            self.problems.append(("task.weights_from", f"no weights.npz in {task.weights_from!r} "
                                  "(give the directory of a previous rulelab run)"))
        if task.kind not in INPUT_KINDS:
            return
        opt = task.optimise
        if opt.box is not None and not opt.box[0] < opt.box[1]:
            self.problems.append(("task.optimise.box", f"got {opt.box}; expected [low, high] with low < high"))
        if task.kind == "activation_maximisation":
            sizes = self.model.network.layers
            n_layers = len(sizes) - 1
            if not -n_layers <= opt.layer < n_layers:
                self.problems.append(("task.optimise.layer", f"got {opt.layer}; the network has {n_layers} layers"))
                return
            size = sizes[1:][opt.layer]
            bad = [u for u in (opt.units or []) if not 0 <= u < size]
            if bad:
                self.problems.append(("task.optimise.units", f"got {bad}; layer {opt.layer} has units 0 … {size - 1}"))

    def weights_path(self) -> Path | None:
        """The weights.npz named by task.weights_from (cwd first, then beside the scenario)."""
        ref = self.model.task.weights_from
        for base in (Path.cwd(), self.base_dir):
            candidate = (base / ref).expanduser()
            if candidate.is_dir():
                candidate = candidate / "weights.npz"
            if candidate.is_file():
                return candidate
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
        if name not in DATASETS:
            path = "task.dataset" if isinstance(ref, str) else "task.dataset.name"
            self.problems.append((path, f"unknown dataset {name!r}{did_you_mean(name, list(DATASETS))} "
                                        f"(available: {', '.join(DATASETS)})"))
            return name, None
        Options = DATASETS[name].Options
        try:
            return name, Options.model_validate(options)
        except ValidationError as exc:
            self.problems.extend(pydantic_problems(exc, ("task", "dataset"), Options))
            return name, None

    def _rules(self, registry: dict[str, type[Rule]], data: Dataset, kind: str, loss: str) -> list[RuleSpec]:
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
                self.problems.append((f"{where}.label", f"'{label}' is already used by rules[{labels_seen[label]}]; "
                                      "give each entry of the same rule a distinct label"))
            labels_seen[label] = i
            specs.append(RuleSpec(label, rule, params, network, init, tuple(stages)))
        return specs

    def _stage(self, registry: dict[str, type[Rule]], item: dict[str, Any], where: str, network: Network | None,
               data: Dataset, kind: str, loss: str, network_where: str, in_pipeline: bool) -> Stage | None:
        """One rule (or one stage of a pipeline): name, hyperparameters, and what it needs."""
        name = item.pop("rule", None)
        epochs = item.pop("epochs", None) if in_pipeline else None
        if not isinstance(name, str):
            self.problems.append((f"{where}.rule", "missing; name the rule of this stage"))
            return None
        rule = registry.get(name)
        if rule is None:
            self.problems.append((f"{where}.rule", f"unknown rule {name!r}{did_you_mean(name, list(registry))} "
                                                   f"(available: {', '.join(registry)})"))
            return None
        if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0):
            self.problems.append((f"{where}.epochs", f"got {epochs!r}; expected a whole number ≥ 0"))
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
            self.problems.extend(pydantic_problems(exc, tuple(parse_key_path(where)), rule.Params))
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
        problem = rule(params).check_network(network)
        if problem is None and network.tied and not rule.supports_tied_weights:
            problem = (f"rule '{rule.name}' does not keep tied weights in sync; "
                       "train a tied autoencoder with a gradient rule (backprop, feedback_alignment, …)")
        if problem:
            self.problems.append((network_where, problem))
        if rule.needs.labels and data.y is None and data.targets is None and kind != "autoencoding":
            self.problems.append((f"{where}.rule", f"rule '{rule.name}' needs labels but the dataset has none"))
        return Stage(rule, params, epochs)

    def _network(self, base: dict[str, Any], override: dict[str, Any] | None, where: str,
                 data: Dataset, kind: str) -> tuple[Network | None, InitConfig | None]:
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
                self.problems.extend(pydantic_problems(exc, tuple(parse_key_path(where)), NetworkConfig))
            return None, None
        path = where if override else "network"
        n_layers = len(cfg.layers) - 1
        if cfg.activations is not None:
            if len(cfg.activations) != n_layers:
                self.problems.append((f"{path}.activations", f"got {len(cfg.activations)} activations; "
                                      f"expected one per layer ({n_layers})"))
                return None, None
            acts = tuple(cfg.activations)
        else:
            acts = (cfg.activation,) * (n_layers - 1) + (cfg.output_activation or cfg.activation,)
        if "softmax" in acts[:-1]:
            self.problems.append((path, "softmax is only allowed on the output layer"))
            return None, None
        if not self._sizes_fit(cfg, acts, path, data, kind):
            return None, None
        init = cfg.init if isinstance(cfg.init, InitConfig) else InitConfig(scheme=cfg.init)
        if init.scheme == "given" and not self._given_fits(init, cfg.layers, f"{path}.init.layers"):
            return None, None
        if cfg.tied:
            problem = tie_problem(cfg.layers)
            if problem:
                self.problems.append((f"{path}.tied", problem))
                return None, None
        return Network(tuple(cfg.layers), acts, cfg.leaky_slope, cfg.dtype, cfg.tied), init

    def _sizes_fit(self, cfg: NetworkConfig, acts: tuple[str, ...], path: str, data: Dataset, kind: str) -> bool:
        ok = True
        for j, size in enumerate(cfg.layers):
            if size < 1:
                self.problems.append((f"{path}.layers[{j}]", f"got {size}; expected a layer size ≥ 1"))
                ok = False
        if cfg.layers[0] != data.n_features:
            self.problems.append((f"{path}.layers[0]", f"got {cfg.layers[0]} inputs; the dataset has "
                                  f"{data.n_features} features"))
            ok = False
        if kind == "autoencoding":
            if cfg.layers[-1] != data.n_features:
                self.problems.append((f"{path}.layers[{len(cfg.layers) - 1}]",
                                      f"got {cfg.layers[-1]} outputs; an autoencoder reconstructs its "
                                      f"{data.n_features} inputs"))
                ok = False
            return ok
        if kind == "regression":
            if data.targets is None:
                self.problems.append(("task.kind", "regression needs a dataset with real-valued targets "
                                      "(e.g. dataset: {name: table, inputs: …, targets: …})"))
                return False
            if cfg.layers[-1] != data.targets.shape[1]:
                self.problems.append((f"{path}.layers[{len(cfg.layers) - 1}]",
                                      f"got {cfg.layers[-1]} outputs; the targets have {data.targets.shape[1]} columns"))
                ok = False
        if kind == "unsupervised":
            return ok
        if kind == "association":
            return ok and self._patterns_fit(cfg, data)
        if kind in INPUT_KINDS:
            kind = "classification"
        if kind == "classification" and data.y is None:
            self.problems.append(("task.kind", "classification needs labels; this dataset has only targets "
                                  "(use kind: regression)"))
            return False
        if kind == "classification" and data.n_classes:
            allowed = [data.n_classes] + ([1] if data.n_classes == 2 else [])
            if cfg.layers[-1] not in allowed:
                want = " or ".join(str(a) for a in allowed)
                self.problems.append((f"{path}.layers[{len(cfg.layers) - 1}]",
                                      f"got {cfg.layers[-1]} outputs; the dataset has {data.n_classes} classes, "
                                      f"so expected {want}"))
                ok = False
            if acts[-1] == "softmax" and cfg.layers[-1] < 2:
                self.problems.append((path, "a softmax output needs at least 2 units"))
                ok = False
        return ok

    def _patterns_fit(self, cfg: NetworkConfig, data: Dataset) -> bool:
        values = np.unique(data.X)
        if not set(values.tolist()) <= {-1.0, 1.0}:
            shown = ", ".join(f"{v:g}" for v in values[:5]) + (" …" if len(values) > 5 else "")
            self.problems.append(("task.dataset", f"Hopfield patterns must be bipolar (±1); got values {shown} "
                                  "(random_patterns with encoding: bipolar, or letters)"))
            return False
        return True

    def _check_association(self, specs: list[RuleSpec], data: Dataset) -> None:
        a = self.model.task.association
        for k, f in enumerate(a.flip_fractions):
            if not 0.0 <= f <= 1.0:
                self.problems.append((f"task.association.flip_fractions[{k}]", f"got {f}; expected a fraction in [0, 1]"))
        for k, load in enumerate(a.loads or []):
            if load <= 0:
                self.problems.append((f"task.association.loads[{k}]", f"got {load}; expected a load α = p/N > 0"))
        for i, spec in enumerate(specs):
            if spec.rule.kind != "associative":
                self.problems.append((f"rules[{i}].rule", f"rule '{spec.rule.name}' does not store patterns; "
                                      "association tasks take storage rules (hopfield_hebbian, storkey, pseudo_inverse)"))
                continue
            n = spec.network.sizes[0]
            counts = [max(1, round(load * n)) for load in a.loads] if a.loads else [data.X.shape[0]]
            problem = spec.rule(spec.params).capacity_problem(max(counts), n)
            if problem:
                where = "task.association.loads" if a.loads else "task.dataset"
                self.problems.append((where, f"rules[{i}] ({spec.rule.name}): {problem}"))

    def _given_fits(self, init: InitConfig, sizes: list[int], path: str) -> bool:
        if init.layers is None or len(init.layers) != len(sizes) - 1:
            got = 0 if init.layers is None else len(init.layers)
            self.problems.append((path, f"got {got} layers of weights; expected {len(sizes) - 1}"))
            return False
        for layer, spec in enumerate(init.layers):
            n_w = int(np.asarray(spec.weights, dtype=float).size)
            if n_w != sizes[layer] * sizes[layer + 1]:
                self.problems.append((f"{path}[{layer}].weights", f"got {n_w} weights; expected "
                                      f"{sizes[layer + 1]}×{sizes[layer]} = {sizes[layer] * sizes[layer + 1]}"))
                return False
            if spec.bias is not None and len(spec.bias) != sizes[layer + 1]:
                self.problems.append((f"{path}[{layer}].bias", f"got {len(spec.bias)} biases; expected "
                                      f"{sizes[layer + 1]}"))
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
            "task": {**s.task.model_dump(), "dataset": dataset},
            "network": m.network.model_dump(exclude_none=True),
            "train": m.train.model_dump(exclude_none=True),
            "rules": [],
            "metrics": list(s.metrics),
        }
        if m.plugins:
            out["plugins"] = list(m.plugins)
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

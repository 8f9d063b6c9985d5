"""Task kinds as registered objects: what each kind checks, measures, prepares and runs after training.

A scenario's ``task.kind`` names one of :data:`TASK_KINDS`.  Every place that behaves differently
per kind asks the kind object (``task_kind(name).classifies``, ``.default_metrics(…)``,
``.output_problems(…)``, ``.after_training(…)``) instead of comparing strings, so a kind's whole
behaviour reads in one class below and a new kind is one class and one line in the registry.

Kinds with a pipeline of their own (``objective``: no network, no data; ``sequence``: a
recurrent net on sequence data) hand over at the three steps where the road forks: resolving
the scenario, preparing the data, building and training the plan.  The default methods return
``None`` there, meaning "the common road".

The heavy modules each hook needs are imported inside the hook: this module is imported
while a scenario is validated and must stay cheap.

Plug-ins add kinds as they add rules: a :class:`TaskKind` subclass with a ``name`` in a plug-in
file or module (``plugins:`` in the scenario, ``--plugin`` on the command line), or in an installed
package under the ``rulelab.task_kinds`` entry-point group.  A kind with settings of its own
declares them as a pydantic model in ``Options``; the scenario gives them under ``task.options``.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:  # annotations only
    from rulelab.build import Plan, PreparedData
    from rulelab.core.network import Network
    from rulelab.data.datasets import DataShape
    from rulelab.run.record import RunRecord
    from rulelab.scenario import RuleSpec, Scenario
    from rulelab.scenario.resolve import Resolver
    from rulelab.scenario.schema import TaskConfig

Problems = list[tuple[str, str]]


class TaskKind:
    """The common road: a network trained on a split dataset; subclasses say what differs."""

    name: ClassVar[str]
    summary: ClassVar[str]
    classifies: ClassVar[bool] = False  # targets are class labels; accuracy is measured
    targets: ClassVar[str] = "labels"  # training targets: labels, values (regression), inputs (autoencoder), none
    splits_by_default: ClassVar[bool] = True  # a test share is held out unless task.test_fraction says otherwise
    holds_validation: ClassVar[bool] = False  # task.validation_fraction applies (sweeps tune on it)
    optimises_inputs: ClassVar[bool] = False  # after training, inputs move under fixed weights
    tracks_components: ClassVar[bool] = False  # runs are measured against the data's principal components
    stores_patterns: ClassVar[bool] = False  # associative rules (Hopfield) store and recall; no others do
    recurrent: ClassVar[bool] = False  # a recurrent net on sequences (its own model, data and figures)
    fixed_metrics: ClassVar[tuple[str, ...] | None] = None  # default metrics that do not depend on the split
    Options: ClassVar[Any] = None  # a plug-in kind's own settings (a pydantic model), given as task.options
    source: str = "built-in"  # where the kind comes from: built-in, a package, a plug-in file or module

    # ------------------------------------------------------------ validation

    def resolve(self, resolver: "Resolver") -> "Scenario | None":
        """The whole resolved scenario when this kind has a resolver of its own; None: the common one."""
        return None

    def default_metrics(self, task: "TaskConfig", test_fraction: float) -> tuple[str, ...]:
        """The metrics measured when the scenario names none: losses (and accuracies when classifying) on
        every set the split holds (or the kind's fixed list)."""
        if self.fixed_metrics is not None:
            return self.fixed_metrics
        accuracy = self.classifies
        names = ["train_accuracy", "train_loss"] if accuracy else ["train_loss"]
        if task.validation_fraction > 0:
            names += ["validation_accuracy", "validation_loss"] if accuracy else ["validation_loss"]
        if test_fraction > 0:
            names += ["test_accuracy", "test_loss"] if accuracy else ["test_loss"]
        return tuple(names)

    def task_problems(self, task: "TaskConfig", base_network: Callable[[], "Network | None"]) -> Problems:
        """What is wrong with this kind's own task settings (``base_network()``: the scenario's shared
        network, None when it has problems of its own)."""
        return []

    def output_problems(self, sizes: list[int], activations: tuple[str, ...], data: "DataShape",
                        path: str) -> Problems:
        """What is wrong with a network (flat sizes of its input and every layer, declared at key ``path``)
        for this kind and this dataset; [] when nothing."""
        return []

    # ------------------------------------------------------------ running

    def prepare_data(self, scenario: "Scenario", seed: int) -> "PreparedData | None":
        """This kind's data for one seed; None: the scenario's dataset, generated and split."""
        return None

    def build_plan(self, scenario: "Scenario", spec: "RuleSpec", seed: int, data: "PreparedData") -> "Plan | None":
        """This kind's plan of one (rule, seed); None: the common build."""
        return None

    def train(self, plan: "Plan", record: "RunRecord", progress: Callable[[int], None],
              interrupted: Callable[[], bool]) -> bool | None:
        """Train a plan this kind runs itself (True: finished normally); None: trained by its rule's kind."""
        return None

    def after_training(self, plan: "Plan", record: "RunRecord") -> None:
        """What runs on the trained weights of a run that did not diverge."""

    # ------------------------------------------------------------ figures

    @property
    def draws_decision_regions(self) -> bool:
        """Whether the decision-region figure applies (a trained classifier, not moved inputs)."""
        return self.classifies and not self.optimises_inputs


class Classification(TaskKind):
    name = "classification"
    summary = "class labels from inputs; accuracy and loss"
    classifies = True
    holds_validation = True

    def output_problems(self, sizes: list[int], activations: tuple[str, ...], data: "DataShape",
                        path: str) -> Problems:
        if not data.has_labels:
            return [("task.kind", "classification needs labels; this dataset has only targets (use kind: regression)")]
        problems: Problems = []
        last = _last_layer(path, sizes)
        if data.n_classes:
            allowed = [data.n_classes] + ([1] if data.n_classes == 2 else [])
            if sizes[-1] not in allowed:
                want = " or ".join(str(a) for a in allowed)
                problems.append((last, f"got {sizes[-1]} outputs; the dataset has {data.n_classes} classes, "
                                       f"so expected {want}"))
            if activations[-1] == "softmax" and sizes[-1] < 2:
                problems.append((path, "a softmax output needs at least 2 units"))
        return problems


class InputOptimisation(Classification):
    """Trained as classification; then, weights fixed, the inputs move (rulelab.tasks.inputs)."""

    holds_validation = False
    optimises_inputs = True

    def task_problems(self, task: "TaskConfig", base_network: Callable[[], "Network | None"]) -> Problems:
        box = task.optimise.box
        if box is not None and not box[0] < box[1]:
            return [("task.optimise.box", f"got {box}; expected [low, high] with low < high")]
        return []


class ActivationMaximisation(InputOptimisation):
    name = "activation_maximisation"
    summary = "train a classifier, then find the input that drives chosen units hardest"

    def task_problems(self, task: "TaskConfig", base_network: Callable[[], "Network | None"]) -> Problems:
        from rulelab.scenario.errors import show

        problems = super().task_problems(task, base_network)
        net = base_network()
        if net is None:
            return problems  # the network's own problems are reported with the rules
        opt = task.optimise
        n_layers = net.n_layers
        if not -n_layers <= opt.layer < n_layers:
            return problems + [("task.optimise.layer", f"got {opt.layer}; the network has {n_layers} layers")]
        size = net.sizes[1:][opt.layer]
        bad = [u for u in (opt.units or []) if not 0 <= u < size]
        if bad:
            problems.append(("task.optimise.units", f"got {show(bad)}; layer {opt.layer} has units 0 … {size - 1}"))
        activation = net.activations[opt.layer]
        if opt.maximise == "a" and activation in ("step", "sign"):
            problems.append(("task.optimise.maximise", f"got a, but layer {opt.layer} uses {activation}: "
                                                       "a = g(z) is flat almost everywhere, with no gradient to "
                                                       "follow; maximise z"))
        return problems

    def after_training(self, plan: "Plan", record: "RunRecord") -> None:
        from rulelab.tasks.inputs import maximise_into_record

        maximise_into_record(plan, record.params, record)


class Adversarial(InputOptimisation):
    name = "adversarial"
    summary = "train a classifier, then find small input changes that flip its answers"

    def after_training(self, plan: "Plan", record: "RunRecord") -> None:
        from rulelab.tasks.inputs import attack_into_record

        attack_into_record(plan, record.params, record)


class Regression(TaskKind):
    name = "regression"
    summary = "real-valued targets from inputs; loss"
    targets = "values"
    holds_validation = True

    def output_problems(self, sizes: list[int], activations: tuple[str, ...], data: "DataShape",
                        path: str) -> Problems:
        if not data.n_targets:
            return [("task.kind", "regression needs a dataset with real-valued targets "
                                  "(e.g. dataset: {name: table, inputs: …, targets: …})")]
        if sizes[-1] != data.n_targets:
            return [(_last_layer(path, sizes), f"got {sizes[-1]} outputs; the targets have {data.n_targets} columns")]
        return []


class Autoencoding(TaskKind):
    name = "autoencoding"
    summary = "reconstruct the (clean) input; loss, and the denoising loss with corrupted inputs"
    targets = "inputs"

    def default_metrics(self, task: "TaskConfig", test_fraction: float) -> tuple[str, ...]:
        names = super().default_metrics(task, test_fraction)
        if test_fraction > 0 and task.corruption is not None:
            names += ("test_denoising_loss",)
        return names

    def output_problems(self, sizes: list[int], activations: tuple[str, ...], data: "DataShape",
                        path: str) -> Problems:
        if sizes[-1] != data.n_features:
            return [(_last_layer(path, sizes),
                     f"got {sizes[-1]} outputs; an autoencoder reconstructs its {data.n_features} inputs")]
        return []


class Unsupervised(TaskKind):
    name = "unsupervised"
    summary = "local learning on inputs alone (Hebb, Oja, Sanger); weights against the principal components"
    targets = "none"
    splits_by_default = False
    tracks_components = True
    fixed_metrics = ("pc_angle_0", "weight_norm")


class Association(TaskKind):
    name = "association"
    summary = "store bipolar patterns (Hopfield) and recall them from corrupted cues"
    targets = "none"
    splits_by_default = False
    stores_patterns = True
    fixed_metrics = ("overlap_mean", "overlap", "exact_recall", "sweeps")

    def output_problems(self, sizes: list[int], activations: tuple[str, ...], data: "DataShape",
                        path: str) -> Problems:
        if not data.bipolar:
            shown = ("values " + ", ".join(f"{v:g}" for v in data.values) if data.values is not None
                     else "real-valued features")
            return [("task.dataset", f"Hopfield patterns must be bipolar (±1); got {shown} "
                                     "(random_patterns with encoding: bipolar, or letters)")]
        return []


class Objective(TaskKind):
    name = "objective"
    summary = "minimise a test function of x ∈ R^D with evolution strategies (no data, no network)"
    targets = "none"
    splits_by_default = False

    def resolve(self, resolver: "Resolver") -> "Scenario | None":
        return resolver.resolve_objective()

    def prepare_data(self, scenario: "Scenario", seed: int) -> "PreparedData | None":
        from rulelab.build import PreparedData
        from rulelab.tasks.objective import prepare_objective

        return PreparedData(None, 0, None, objective=prepare_objective(scenario.task, seed))

    def build_plan(self, scenario: "Scenario", spec: "RuleSpec", seed: int, data: "PreparedData") -> "Plan | None":
        from rulelab.build import build_objective_plan

        return build_objective_plan(scenario, spec, seed, data)


class Sequence(TaskKind):
    name = "sequence"
    summary = "a recurrent net on sequences (recall, parity, adding, rows of digits, text)"
    recurrent = True  # classes or values per step are the sequence data's own (rulelab.tasks.sequence)

    def resolve(self, resolver: "Resolver") -> "Scenario | None":
        from rulelab.scenario.sequence import resolve_sequence

        return resolve_sequence(resolver)

    def prepare_data(self, scenario: "Scenario", seed: int) -> "PreparedData | None":
        import numpy as np

        from rulelab.build import PreparedData
        from rulelab.run.sequence import prepare_sequences

        train, test = prepare_sequences(scenario, np.random.default_rng([seed, 0]))
        return PreparedData(None, train.classes, None, sequences=(train, test))

    def build_plan(self, scenario: "Scenario", spec: "RuleSpec", seed: int, data: "PreparedData") -> "Plan | None":
        from rulelab.run.sequence import build_sequence_plan

        return build_sequence_plan(scenario, spec, seed, data)

    def train(self, plan: "Plan", record: "RunRecord", progress: Callable[[int], None],
              interrupted: Callable[[], bool]) -> bool | None:
        from rulelab.run.sequence import train_sequence_plan

        return bool(train_sequence_plan(plan, record, progress, interrupted))


def _last_layer(path: str, sizes: list[int]) -> str:
    """The key path of a network's output layer (sizes: the input, then every layer)."""
    return f"{path}.layers[{len(sizes) - 1}]"


BUILT_IN_KINDS: tuple[TaskKind, ...] = (
    Classification(), Regression(), Autoencoding(), ActivationMaximisation(), Adversarial(), Unsupervised(),
    Association(), Objective(), Sequence())
TASK_KIND_NAMES: tuple[str, ...] = tuple(kind.name for kind in BUILT_IN_KINDS)
# Every kind known in this process: the built-ins, then installed packages' (scanned on first use) and
# plug-in files' and modules' (as they are imported).
TASK_KINDS: dict[str, TaskKind] = {kind.name: kind for kind in BUILT_IN_KINDS}
ENTRY_POINT_GROUP = "rulelab.task_kinds"
_ENTRY_POINTS_SCANNED = False


class TaskKindError(ValueError):
    """A plug-in task kind that cannot be registered (not a TaskKind, no name, a name taken)."""


def register_task_kind(kind: "type[TaskKind] | TaskKind", source: str) -> TaskKind:
    """Add a kind (a TaskKind subclass or instance) under its name; the same class again is a no-op."""
    instance = kind() if inspect.isclass(kind) else kind
    if not isinstance(instance, TaskKind) or not isinstance(getattr(instance, "name", None), str) \
            or not instance.name.isidentifier():
        raise TaskKindError(f"{source}: {kind!r} is not a TaskKind subclass with a name (a Python identifier)")
    taken = TASK_KINDS.get(instance.name)
    if taken is not None:
        if type(taken) is type(instance):
            return taken
        raise TaskKindError(f"two task kinds are named '{instance.name}': one from {taken.source}, one from "
                            f"{source}; rename one of them")
    if not getattr(instance, "summary", ""):
        raise TaskKindError(f"{source}: task kind '{instance.name}' has no summary (one line for `rulelab kinds`)")
    instance.source = source
    TASK_KINDS[instance.name] = instance
    return instance


def kinds_in_module(module: ModuleType) -> list[type[TaskKind]]:
    """The TaskKind subclasses with a name that a plug-in module defines (not those it imports)."""
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, TaskKind) and obj is not TaskKind
            and "name" in vars(obj) and obj.__module__ == module.__name__]


def register_module_kinds(module: ModuleType, source: str) -> list[TaskKind]:
    """Register every kind a plug-in module defines."""
    return [register_task_kind(kind, source) for kind in kinds_in_module(module)]


def installed_task_kinds() -> dict[str, TaskKind]:
    """Every kind known now, installed packages' included (their entry points are read once per process)."""
    global _ENTRY_POINTS_SCANNED
    if not _ENTRY_POINTS_SCANNED:
        from importlib.metadata import entry_points

        # Marked read only once every entry point loaded: a broken package fails each scan, naming itself, as a
        # broken rule package does (rulelab.registry), instead of failing once and leaving later kinds unread.
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            source = f"package {ep.dist.name if ep.dist is not None else 'unknown package'}"
            try:
                loaded = ep.load()
            except Exception as exc:  # a broken package must be named, not hide the other kinds
                raise TaskKindError(f"task kind '{ep.name}' from {source} failed to import: "
                                    f"{type(exc).__name__}: {exc}") from exc
            register_task_kind(loaded, source)
        _ENTRY_POINTS_SCANNED = True
    return dict(TASK_KINDS)


def task_kind(name: str) -> TaskKind:
    """The registered kind of this name (the schema has already refused any other)."""
    kind = TASK_KINDS.get(name)
    if kind is None:
        kind = installed_task_kinds().get(name)
    if kind is None:
        raise TaskKindError(f"unknown task kind {name!r}; known: {', '.join(TASK_KINDS)}")
    return kind


def kind_of(task: Any) -> TaskKind:
    """The kind object of a task config (anything with a ``kind`` attribute)."""
    return task_kind(task.kind)


__all__ = ["BUILT_IN_KINDS", "ENTRY_POINT_GROUP", "TASK_KINDS", "TASK_KIND_NAMES", "TaskKind", "TaskKindError",
           "installed_task_kinds", "kind_of", "kinds_in_module", "register_module_kinds", "register_task_kind",
           "task_kind"]

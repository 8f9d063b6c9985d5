"""The build step: from a validated Scenario to Plans — the only bridge between the two worlds.

A :class:`Plan` holds everything one (rule, seed) run needs and nothing declarative:
the network's arrays, the initial parameters, each stage's kernel, state and packed
hyperparameters, the data in the network's dtype, the random generators, the metric
columns and the stopping rules as numbers.  Runs (:mod:`rulelab.run`) receive Plans,
never the Scenario.

Randomness is split per purpose from the repeat's seed, and shared by every rule, so
that rules see the same data split, the same initial weights (for the same network) and
the same shuffle orders — comparisons are paired:

    SeedSequence([seed, 0]) dataset and split     [seed, 1] initial weights
    SeedSequence([seed, 2]) rule state / ES noise [seed, 3] shuffle orders
    SeedSequence([seed, 4]) input corruption      [seed, 5] corrupted test set, Hopfield loads
    SeedSequence([seed, 6, …]) recall cues, activation-maximisation starts

Each run draws only from its own streams, so results do not depend on how runs are
spread over processes or threads.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rulelab.core import engine as E
from rulelab.core.losses import LOSS_CODES
from rulelab.core.network import Network, encode_targets, init_params, target_range
from rulelab.data.datasets import Split, split_dataset
from rulelab.rule import Rule
from rulelab.scenario import RuleSpec, Scenario, TaskConfig, TrainConfig
from rulelab.tasks.kinds import kind_of
from rulelab.tasks.objective import OBJECTIVE_COLUMNS, ObjectiveData


@dataclass(frozen=True)
class PreparedData:
    """One seed's split, as float64 arrays (cast per network dtype later)."""

    split: Split | None  # None for an objective task (no data: objective holds the function)
    n_classes: int
    image_shape: tuple[int, int] | None
    low: float = 0.0  # the smallest and largest input value (bit flips map x → low + high − x)
    high: float = 1.0
    objective: ObjectiveData | None = None
    sequences: Any = None  # a sequence task: (train, test) rulelab.data.sequences.SequenceSet


def seeded_rng(seed: int, stream: int) -> np.random.Generator:
    """np.random.default_rng([seed, stream]): the same generator, built from a uint32 array when both fit one
    word each (9 µs instead of 14: a list is coerced word by word; plans make six of these)."""
    if 0 <= seed < 2 ** 32 and 0 <= stream < 2 ** 32:
        return np.random.default_rng(np.array([seed, stream], dtype=np.uint32))
    return np.random.default_rng([seed, stream])


def prepare_data(scenario: Scenario, seed: int) -> PreparedData:
    """The data of one seed: the task kind's own (objective, sequences), or the dataset generated and split."""
    own = kind_of(scenario.task).prepare_data(scenario, seed)
    if own is not None:
        return own
    return split_data(scenario, seed)


def split_data(scenario: Scenario, seed: int) -> PreparedData:
    """The common road's data of one seed: the scenario's dataset generated and split ([seed, 0]); a plug-in
    task kind's ``prepare_data`` may start from it."""
    rng = seeded_rng(seed, 0)
    data = scenario.make_dataset(rng)
    split = split_dataset(data, scenario.task.test_fraction, rng, scenario.task.standardize,
                          scenario.task.validation_fraction, scenario.task.stratify)
    return PreparedData(split, data.n_classes, data.image_shape,
                        float(split.X_train.min()), float(split.X_train.max()))


def corrupt(X: np.ndarray, kind: str, level: float, rng: np.random.Generator,
            low: float, high: float) -> np.ndarray:
    """A corrupted copy of X: flip a fraction of inputs (x → low + high − x), mask them to ``low``,
    or add Gaussian noise of std ``level`` (the compiled engine draws the same numbers per epoch)."""
    if kind == "gaussian":
        return (X + rng.normal(0.0, level, size=X.shape)).astype(X.dtype)
    hit = rng.random(X.shape) < level
    if kind == "bitflip":
        return np.where(hit, low + high - X, X).astype(X.dtype)
    return np.where(hit, low, X).astype(X.dtype)


def _arrays(net: Network, X: np.ndarray, y: np.ndarray | None, targets: np.ndarray | None = None,
            regression: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


@dataclass
class EvaluationSets:
    """Train, test, validation and corrupted-test arrays (empty when absent), in the network's dtype."""

    X: tuple[np.ndarray, ...]
    T: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.X[0], self.T[0], self.labels[0]

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.X[1], self.T[1], self.labels[1]

    def present(self, index: int) -> bool:
        return self.X[index].shape[0] > 0


def evaluation_sets(task: TaskConfig, net: Network, data: PreparedData, seed: int) -> EvaluationSets:
    """The sets a run is measured on; the corrupted test set is drawn once per seed ([seed, 5])."""
    split = data.split
    empty = _arrays(net, np.zeros((0, net.sizes[0])), None)
    kind = kind_of(task)
    if kind.targets == "inputs":  # an autoencoder: the target is the (clean) input itself
        train = _arrays(net, split.X_train, None, split.X_train, True)
        test = _arrays(net, split.X_test, None, split.X_test, True)
    else:
        regression = kind.targets == "values"
        train = _arrays(net, split.X_train, split.y_train, split.targets_train, regression)
        test = _arrays(net, split.X_test, split.y_test, split.targets_test, regression)
    validation = empty
    if split.X_val is not None and kind.holds_validation:
        validation = _arrays(net, split.X_val, split.y_val, split.targets_val, kind.targets == "values")
    noisy = empty
    c = task.corruption
    if c is not None and test[0].shape[0] > 0:
        X_noisy = corrupt(test[0], c.kind, c.level, seeded_rng(seed, 5), data.low, data.high)
        noisy = (np.ascontiguousarray(X_noisy), test[1], test[2])
    sets = (train, test, validation, noisy)
    return EvaluationSets(tuple(s[0] for s in sets), tuple(s[1] for s in sets), tuple(s[2] for s in sets))


def principal_components(X: np.ndarray) -> np.ndarray:
    """Principal components of the training inputs (rows), largest variance first (NumPy's eigh)."""
    Xc = X - X.mean(axis=0)
    _, vectors = np.linalg.eigh(Xc.T @ Xc / len(Xc))
    return vectors[:, ::-1].T


def weight_decay(spec: RuleSpec) -> float:
    """The largest L2 coefficient λ of a rule entry's stages (0 when none decays its weights)."""
    return max(float(getattr(stage.params, "l2", 0.0) or 0.0) for stage in spec.stages)


def evaluation_columns(task: TaskConfig, metrics: tuple[str, ...], sets: EvaluationSets,
                       components: np.ndarray | None, net: Network, l2: float = 0.0) -> list[tuple[str, int]]:
    """(metric name, engine code) measured after every epoch, in the order they are written.

    With weight decay (``l2`` = λ > 0) each measured loss is followed by the full objective
    ``SET_objective`` = loss + λ R(W) (notes 003: L = (1/N) Σ L_i + λ R(W))."""
    if components is not None:
        k = min(net.sizes[1], len(components))
        return [(f"pc_angle_{i}", E.FROM_SNAPSHOT) for i in range(k)] + [("weight_norm", E.FROM_SNAPSHOT)]
    classifying = kind_of(task).classifies
    columns = []
    for name, index in (("train", 0), ("test", 1), ("validation", 2)):
        if not sets.present(index):
            continue
        if f"{name}_loss" in metrics:
            columns.append((f"{name}_loss", 2 * index))
            if l2 > 0:
                columns.append((f"{name}_objective", E.OBJECTIVE + index))
        if classifying and f"{name}_accuracy" in metrics:
            columns.append((f"{name}_accuracy", 2 * index + 1))
    if sets.present(3) and "test_denoising_loss" in metrics:
        columns.append(("test_denoising_loss", E.DENOISING_LOSS))
    return columns


@dataclass
class StagePlan:
    """One stage of an online run: a rule's kernel, state and packed hyperparameters for so many epochs."""

    rule: Rule
    kernel: Any
    state: np.ndarray
    hp: np.ndarray
    epochs: int
    signal: str
    stop_on_zero_signal: bool


@dataclass
class Plan:
    """Everything one (rule, seed) run needs, as arrays and numbers."""

    label: str
    rule_name: str
    family: str
    seed: int
    kind: str  # online, population or associative
    rule: Rule  # the (last) rule, instantiated with its hyperparameters
    network: Network
    params: np.ndarray
    task: TaskConfig
    train: TrainConfig
    data: PreparedData
    sets: EvaluationSets
    columns: list[tuple[str, int]]
    loss_code: int
    threshold: float
    components: np.ndarray | None = None
    stages: list[StagePlan] = field(default_factory=list)
    shuffle_rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    noise_rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    state_rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    objective: ObjectiveData | None = None  # a black-box objective instead of a network's fitness

    @property
    def stop_declared(self) -> bool:
        return self.train.stop is not None

    def settings(self, stage: int) -> tuple[np.ndarray, np.ndarray]:
        """The engine's integer and float settings for stage ``stage`` (see :mod:`rulelab.core.engine`)."""
        cfg = np.zeros(E.CFG_SLOTS, dtype=np.int64)
        fcfg = np.full(E.FCFG_SLOTS, np.nan)
        train = self.train
        cfg[E.C_BATCH] = train.batch_size
        cfg[E.C_SHUFFLE] = int(train.shuffle)
        corruption = self.task.corruption
        if corruption is not None and self.kind == "online":
            cfg[E.C_CORRUPTION] = E.CORRUPTION_CODES[corruption.kind]
            fcfg[E.F_LEVEL], fcfg[E.F_LOW], fcfg[E.F_HIGH] = corruption.level, self.data.low, self.data.high
        if train.budget is not None:
            cfg[E.C_BUDGET_UNIT] = E.BUDGET_CODES[train.budget.unit]
            if train.budget.unit == "wall_seconds":
                fcfg[E.F_WALL_BUDGET] = train.budget.amount
            else:
                cfg[E.C_BUDGET_AMOUNT] = int(train.budget.amount)
        final = stage == len(self.stages) - 1 or self.kind != "online"
        cfg[E.C_FINAL] = int(final)
        cfg[E.C_SIGNAL_ZERO] = int(final and self.kind == "online" and self.stages[stage].stop_on_zero_signal)
        stop = train.stop
        cfg[E.C_EARLY] = int(stop is None or stop.early)
        if stop is not None:
            for slot, value in ((E.F_STOP_TRAIN_ACCURACY, stop.train_accuracy),
                                (E.F_STOP_TEST_ACCURACY, stop.test_accuracy),
                                (E.F_STOP_TRAIN_LOSS, stop.train_loss),
                                (E.F_STOP_OBJECTIVE, stop.objective)):
                if value is not None:
                    fcfg[slot] = value
        cfg[E.C_STAGE] = stage + 1
        cfg[E.C_LOSS] = self.loss_code
        fcfg[E.F_THRESHOLD] = self.threshold
        # λ of the stage that trains: the objective column (if any) adds λ R(W) to the loss.
        fcfg[E.F_L2] = float(getattr(self.stages[stage].rule.params, "l2", 0.0) or 0.0) \
            if self.kind == "online" and self.stages else 0.0
        cfg[E.C_SNAP_OFF], cfg[E.C_SNAP_LEN] = self.snapshot_range(stage)
        return cfg, fcfg

    def snapshot_range(self, stage: int) -> tuple[int, int]:
        """(offset, length) of the parameters copied after every epoch of a stage, or (0, 0): the first layer's
        weights for the PC angles (unsupervised), a conv layer's kernels while a Hebbian rule trains them."""
        layout = self.network.layout
        if self.components is not None:
            row = layout[0]
            return int(row[0]), int(row[2] * row[3])
        if self.kind != "online" or not self.stages:
            return 0, 0
        layer = self.filter_layer(stage)
        if layer is None:
            return 0, 0
        return int(layout[layer, 0]), int(layout[layer, 1] - layout[layer, 0])

    def filter_layer(self, stage: int) -> int | None:
        """The conv layer a Hebbian stage trains (its filters are recorded as they form), or None."""
        rule = self.stages[stage].rule
        if rule.family != "hebbian":
            return None
        layers = rule.trained_layers(self.network)
        if len(layers) != 1 or not self.network.specs[layers[0]].kind.startswith("conv"):
            return None
        return layers[0]


def initial_params(scenario: Scenario, spec: RuleSpec, seed: int) -> np.ndarray:
    """Seeded initial weights ([seed, 1]): rules sharing a network start from the same point; or a
    previous run's weights (task.weights_from), whole or for some layers over a seeded start."""
    source = scenario.weights_from
    if source is not None and source.path is None:
        raise ValueError(f"the weights of task '{source.task}' are not there yet: run the whole file")
    if source is not None and source.layers is None:
        return load_weights(source.path, spec, seed, source.rule)
    init = spec.init
    params = init_params(spec.network, seeded_rng(seed, 1), init.scheme, init.scale, init.sigma,
                         init.bias, [layer.model_dump() for layer in init.layers] if init.layers else None)
    if source is not None:
        copy_layers(source.path, source.rule or spec.label, seed, source.layers, spec.network, params)
    return params


def _saved(path: Path, label: str, seed: int, dtype: np.dtype) -> np.ndarray:
    from rulelab.output.results import open_arrays

    key = f"{label}/seed{seed}"
    with open_arrays(path) as saved:
        if key not in saved:
            available = sorted(k for k in saved.files if "/seed" in k and k.count("/") == 1)
            raise ValueError(f"{path} has no weights for rule '{label}' and seed {seed} "
                             f"(it has: {', '.join(available) or 'none'})")
        return np.asarray(saved[key], dtype=dtype).copy()


def load_weights(path: Path, spec: RuleSpec, seed: int, label: str | None = None) -> np.ndarray:
    """A previous run's final parameters for this rule label (or ``label``) and seed."""
    label = label or spec.label
    params = _saved(path, label, seed, spec.network.np_dtype)
    if params.shape != (spec.network.n_params,):
        raise ValueError(f"{path}: weights for '{label}' have {params.size} values; "
                         f"this network needs {spec.network.n_params}")
    return params


@functools.lru_cache(maxsize=16)
def _saved_network(path: Path, label: str) -> Network:
    """The network rule ``label`` ran with, from the scenario.yaml saved beside ``path``."""
    from rulelab.scenario import ScenarioError, read_yaml, validate_scenario

    saved = path.parent / "scenario.yaml"
    try:  # validated, not only read (results.read_saved_scenario): the network needs its layout
        scenario = validate_scenario(read_yaml(saved), str(saved), saved.parent)
    except (ScenarioError, OSError) as exc:
        raise ValueError(f"{saved}: cannot read the network the weights were trained on ({exc})") from None
    for spec in scenario.rules:
        if spec.label == label:
            return spec.network
    raise ValueError(f"{saved} has no rule '{label}'")


def _layer_slice(layout: np.ndarray, layer: int, n_params: int) -> slice:
    """A layer's weights and biases: contiguous in the flat vector, up to the next layer's."""
    from rulelab.core.layout import W_OFF

    end = int(layout[layer + 1, W_OFF]) if layer + 1 < layout.shape[0] else n_params
    return slice(int(layout[layer, W_OFF]), end)


def copy_layers(path: Path, label: str, seed: int, layers: tuple[int, ...], net: Network,
                params: np.ndarray) -> None:
    """params[layer] ← the saved run's layer, for each layer given; each must have the same shape and kind."""
    from rulelab.core.layout import C_IN, KIND, N_IN, N_OUT

    source_net = _saved_network(path, label)
    source = _saved(path, label, seed, net.np_dtype)
    for layer in layers:
        if layer >= source_net.n_layers:
            raise ValueError(f"{path}: rule '{label}' has {source_net.n_layers} layers; there is no layer {layer}")
        columns = [KIND, N_IN, N_OUT, *range(C_IN, C_IN + 12)]
        if not np.array_equal(source_net.layout[layer, columns], net.layout[layer, columns]):
            raise ValueError(f"{path}: layer {layer} of rule '{label}' is {source_net.describe_layer(layer)}; "
                             f"this network's is {net.describe_layer(layer)}")
        params[_layer_slice(net.layout, layer, net.n_params)] = \
            source[_layer_slice(source_net.layout, layer, source_net.n_params)]


def _stages(scenario: Scenario, spec: RuleSpec, seed: int) -> list[StagePlan]:
    """Each stage's rule instance, kernel, state ([seed, 2], then [seed, 2, k] for stage k) and hyperparameters."""
    net = spec.network
    stages = []
    for index, stage in enumerate(spec.stages):
        rule = stage.rule(stage.params)
        stream = [seed, 2] if index == 0 else [seed, 2, index]
        state = np.ascontiguousarray(rule.init_state(net, np.random.default_rng(stream)), dtype=net.np_dtype)
        epochs = stage.epochs if stage.epochs is not None else scenario.train.epochs
        stages.append(StagePlan(rule, rule.kernel(net, scenario.train.batch_size), state, stage.params.pack(),
                                epochs, rule.signal, bool(rule.converged_when_signal_zero)))
    return stages


def objective_sets() -> EvaluationSets:
    """An objective task's 'data': one empty training row (one generation per epoch), no other set."""
    one, none = np.zeros((1, 0)), np.zeros((0, 0))
    labels = np.zeros(0, dtype=np.int64)
    return EvaluationSets((one, none, none, none), (one, none, none, none), (labels,) * 4)


def build_objective_plan(scenario: Scenario, spec: RuleSpec, seed: int, data: PreparedData) -> Plan:
    """The Plan of one (strategy, seed) on a black-box objective: x0 as the parameters, no data."""
    objective = data.objective
    return Plan(label=spec.label, rule_name=spec.rule.name, family=spec.family, seed=seed, kind=spec.rule.kind,
                rule=spec.rule(spec.params), network=spec.network, params=objective.x0.copy(), task=scenario.task,
                train=scenario.train, data=data, sets=objective_sets(),
                columns=[c for c in OBJECTIVE_COLUMNS if c[0] in scenario.metrics], loss_code=0, threshold=0.5,
                shuffle_rng=seeded_rng(seed, 3), noise_rng=seeded_rng(seed, 4),
                state_rng=seeded_rng(seed, 2), objective=objective)


def build_plan(scenario: Scenario, spec: RuleSpec, seed: int, data: PreparedData) -> Plan:
    """The Plan of one (rule, seed): arrays, kernels, generators and settings."""
    own = kind_of(scenario.task).build_plan(scenario, spec, seed, data)  # objective and sequence tasks
    if own is not None:
        return own
    net = spec.network
    kind = spec.rule.kind
    sets = evaluation_sets(scenario.task, net, data, seed)
    components = principal_components(data.split.X_train) if kind_of(scenario.task).tracks_components else None
    off, on = target_range(net.output_activation)
    plan = Plan(
        label=spec.label, rule_name=spec.rule.name, family=spec.family, seed=seed, kind=kind,
        rule=spec.rule(spec.params), network=net,
        params=initial_params(scenario, spec, seed) if kind != "associative" else np.zeros(0),
        task=scenario.task, train=scenario.train, data=data, sets=sets,
        columns=evaluation_columns(scenario.task, scenario.metrics, sets, components, net, weight_decay(spec)),
        loss_code=LOSS_CODES[scenario.task.loss], threshold=(off + on) / 2.0, components=components,
        shuffle_rng=seeded_rng(seed, 3), noise_rng=seeded_rng(seed, 4),
        state_rng=seeded_rng(seed, 2))
    if kind == "online":
        plan.stages = _stages(scenario, spec, seed)
    return plan


def pc_angles(W: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Angle in degrees between each unit's weight vector w_k and the k-th principal component (sign ignored)."""
    k = min(len(W), len(components))
    norms = np.linalg.norm(W[:k], axis=1) * np.linalg.norm(components[:k], axis=1)
    cos = np.abs(np.sum(W[:k] * components[:k], axis=1)) / np.where(norms > 0, norms, 1.0)
    return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))

"""The shape of a scenario file: pydantic models with defaults, constraints and descriptions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rulelab.scenario.errors import did_you_mean, show
from rulelab.tasks.kinds import installed_task_kinds

ActivationName = Literal["linear", "step", "sign", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
METRICS = ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "validation_accuracy", "validation_loss",
           "test_denoising_loss", "train_objective", "test_objective", "validation_objective",
           "objective_best", "objective_mean", "evaluations", "pc_angle_0",
           "weight_norm", "overlap_mean", "overlap", "exact_recall", "sweeps")
# Tiny fixed tables are evaluated on themselves: a split would remove a row of the truth table.
_NO_SPLIT_DATASETS = {"and", "or", "nand", "xor", "parity", "table"}


# Strict: a boolean is not a number (`repeats: yes`, `layers: [2, true]`), "3" is not 3, and numbers
# are finite (`lr: .inf` is a typo, not a setting: no key of a scenario takes an infinity or a NaN).
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Model(BaseModel):
    model_config = STRICT


class GivenLayer(Model):
    weights: list[list[float]] | list[float]
    bias: list[float] | None = None


class InitConfig(Model):
    scheme: Literal["zeros", "uniform", "normal", "glorot", "he", "pytorch", "given"] = "glorot"
    scale: float = Field(0.5, gt=0, description="half-width of the uniform scheme")
    sigma: float = Field(0.1, gt=0, description="std of the normal scheme")
    bias: Literal["zeros", "same"] = "zeros"
    layers: list[GivenLayer] | None = None


class AtZeroConfig(Model):
    """What step and sign give at exactly z = 0 (their tie convention)."""

    step: Literal[0, 0.5, 1] = Field(1, description="step(0): 1 (z ≥ 0 fires, the default), 0 (fires only if "
                                                    "z > 0, the notes' perceptron) or 0.5")
    sign: Literal[-1, 0, 1] = Field(1, description="sign(0): +1 (the default, the notes' Hopfield units), −1 "
                                                  "(notes 004's perceptron) or 0")


class NetworkConfig(Model):
    # Items are checked one by one in rulelab.scenario.layers, where each kind gets its own message.
    layers: list[Any] = Field(
        min_length=2, description="the input (a size or a shape [C, L] / [C, H, W]), then each layer: a size "
                                  "(dense) or a mapping with a kind (see rulelab.scenario.layers)")
    activation: ActivationName = "sigmoid"
    output_activation: ActivationName | None = None
    activations: list[ActivationName] | None = None
    leaky_slope: float = Field(0.01, ge=0)
    init: InitConfig | Literal["zeros", "uniform", "normal", "glorot", "he", "pytorch"] = "glorot"
    dtype: Literal["float64", "float32"] = "float64"
    tied: bool = Field(False, description="autoencoders: decoder weights are the encoder's transpose")
    at_zero: AtZeroConfig = Field(default_factory=AtZeroConfig,
                                  description="the value step and sign take at exactly z = 0")


class CorruptionConfig(Model):
    kind: Literal["bitflip", "gaussian", "mask"] = Field(description="how inputs are corrupted")
    level: float = Field(gt=0, description="bitflip/mask: fraction of inputs (< 1); gaussian: noise std")


class OptimiseConfig(Model):
    """Settings of the input-optimisation task kinds (weights fixed, inputs move)."""

    layer: int = Field(-1, description="activation_maximisation: layer of the unit (−1: output layer)")
    units: list[int] | None = Field(None, description="activation_maximisation: units to maximise (default all)")
    maximise: Literal["z", "a"] = Field("z", description="activation_maximisation: the unit's weighted input z "
                                        "or its activation a = g(z)")
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
    threshold: float | list[float] = Field(0.0, description="T_i: one value for every unit, or one per unit")
    external_input: float | list[float] = Field(0.0, description="I_i: one value for every unit, or one per unit")
    cues: list[list[float]] | None = Field(None, min_length=1, description="explicit cue states (±1, one "
                                           "value per unit), recalled as given instead of noisy stored patterns")
    examples: int = Field(8, ge=0, description="cues, recalls and targets kept for the figures, per condition")


class WeightsFromConfig(Model):
    """Where a run's initial weights come from: a previous run, or an earlier task of the same file."""

    run: str | None = Field(None, description="a previous run's directory (or its weights.npz)")
    task: str | None = Field(None, description="an earlier task of this file (tasks:), which runs first")
    rule: str | None = Field(None, description="take this rule label's weights (default: each rule its own)")
    layers: list[int] | None = Field(None, min_length=1,
                                     description="copy only these layers (0 = the first); the others start "
                                                 "from network.init — a pretrained encoder under a new head")
    # Exactly one of run and task: checked when the scenario is resolved (a model-level error here
    # would be reported against the plain-string branch of the union).


ObjectiveName = Literal["sphere", "ellipsoid", "rosenbrock", "rastrigin", "ackley"]
OBJECTIVE_KEYS = ("function", "dimension", "shift", "rotate", "x0")  # task keys of kind objective only


class TaskConfig(Model):
    kind: str = Field("classification", description="one of the kinds in rulelab.tasks.kinds, or a plug-in's")
    options: dict[str, Any] | None = Field(None, description="a plug-in task kind's own settings (its Options)")

    @field_validator("kind", mode="before")
    @classmethod
    def _registered_kind(cls, value: Any) -> Any:
        # Built-in kinds, installed packages' and those of the plug-ins the file names (imported before the
        # file is validated): the registry as it is now, not a list frozen when this module was imported.
        known = list(installed_task_kinds())
        if value not in known:
            choices = ", ".join(f"'{name}'" for name in known[:-1]) + f" or '{known[-1]}'"
            raise ValueError(f"got {show(value)}; expected one of {choices}{did_you_mean(value, known)}")
        return value
    dataset: str | dict[str, Any] | None = Field(None, description="required, except for kind: objective")
    function: ObjectiveName | None = Field(None, description="objective: the function f to minimise")
    dimension: int | None = Field(None, ge=1, le=100_000, description="objective: D, the length of x")
    shift: bool | None = Field(None, description="objective: move the optimum to a seeded s ~ U[−4, 4]^D")
    rotate: bool | None = Field(None, description="objective: evaluate f at R(x − s), R a seeded random rotation")
    x0: float | list[float] | None = Field(None, description="objective: the initial mean, one number for "
                                           "every coordinate (default 1) or D numbers")

    @field_validator("dataset", mode="before")
    @classmethod
    def _name_or_mapping(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, (str, dict)):
            raise ValueError(f"got {show(value)}; expected a dataset name, or a mapping {{name: NAME, option: "
                             "value, …} (rulelab datasets lists them)")
        return value
    corruption: CorruptionConfig | None = Field(
        None, description="autoencoding: corrupt the inputs, keep the clean pattern as target (denoising)")
    optimise: OptimiseConfig = OptimiseConfig()
    association: AssociationConfig = AssociationConfig()
    weights_from: str | WeightsFromConfig | None = Field(
        None, description="start from a previous run's weights.npz (same rule labels and seeds), or "
                          "{run | task, rule?, layers?}")
    test_fraction: float | None = Field(None, ge=0, lt=1)
    validation_fraction: float = Field(0.0, ge=0, lt=1,
                                       description="share of the training rows held out for tuning (sweeps)")
    stratify: bool = Field(False, description="train/test (and validation) splits keep each class's share")
    standardize: bool = False
    loss: Literal["squared", "cross_entropy", "hinge"] | None = None


class StopConfig(Model):
    train_accuracy: float | None = Field(None, ge=0, le=1)
    test_accuracy: float | None = Field(None, ge=0, le=1)
    train_loss: float | None = Field(None, ge=0)
    objective: float | None = Field(None, description="objective tasks: stop once the best f(x) is ≤ this target")
    early: bool = Field(True, description="stop training once a criterion is met")


BUDGET_UNITS = ("samples", "forward_passes", "evaluations", "wall_seconds")


class BudgetConfig(Model):
    """A training budget in one unit; every rule of a comparison gets the same."""

    samples: int | None = Field(None, gt=0, description="training rows seen (ES: rows per generation)")
    forward_passes: int | None = Field(None, gt=0, description="forward passes (ES: rows × members)")
    evaluations: int | None = Field(None, gt=0, description="objective tasks: evaluations of f (members)")
    wall_seconds: float | None = Field(None, gt=0, description="training wall time, checked per epoch")

    @model_validator(mode="after")
    def _one_unit(self) -> "BudgetConfig":
        given = [k for k in BUDGET_UNITS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one budget unit (samples, forward_passes, evaluations or wall_seconds); "
                             f"got {given}")
        return self

    @property
    def unit(self) -> str:
        return next(k for k in BUDGET_UNITS if getattr(self, k) is not None)

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
    model_config = ConfigDict(STRICT, extra="allow")  # the extra keys are the rule's hyperparameters
    rule: str | None = Field(None, description="the rule's name (or give stages)")
    label: str | None = None
    network: dict[str, Any] | None = None
    stages: list[dict[str, Any]] | None = Field(
        None, min_length=1, description="train in stages on the same weights, e.g. a Hebbian layer then a readout")


class ScenarioModel(Model):
    name: str
    description: str = ""
    seed: int = Field(0, ge=0)
    repeats: int = Field(1, ge=1)
    task: TaskConfig
    network: NetworkConfig | None = Field(None, description="required, except for task kind objective")
    train: TrainConfig = TrainConfig()
    rules: list[RuleEntry] = Field(min_length=1)
    metrics: list[Literal[METRICS]] | None = None  # type: ignore[valid-type]
    plugins: list[str] = []
    sweep: dict[str, Any] | None = Field(None, description="hyperparameter grid: run it with rulelab sweep")



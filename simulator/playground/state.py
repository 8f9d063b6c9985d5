"""The page's state is a scenario: what the playground accepts, its defaults, and the YAML it exports.

Every run the page starts is a scenario dict validated by :func:`rulelab.scenario.validate_scenario`
(the same checks and key-path messages as ``rulelab run``), then checked against what a
live view can show and afford (:func:`check_lab`, :func:`check_hopfield`).  Export writes
the scenario as a run folder's ``scenario.yaml`` would, with ``train.epochs`` set to the
epochs on screen and one seed, so that ``rulelab run`` on it reproduces the curves shown.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rulelab.scenario import Scenario, ScenarioError, split_tasks, validate_scenario
from rulelab.tasks.kinds import kind_of

# Bounds of what one tab may ask of the server (a live view must stay live; validation already
# bounds memory). Each is named in the message that refuses it.
MAX_RULES = 8
MAX_SAMPLES = 5000
MAX_PARAMS = 50_000
MAX_POPULATION = 512
MAX_EPOCHS = 100_000
MAX_HOPFIELD_UNITS = 400
MAX_HOPFIELD_PATTERNS = 40
MAX_SWEEPS = 100

LAB_KINDS = ("classification", "regression")
# rulelab's own two-input sets, and TensorFlow Playground's (any input features, drawn in their plane).
PLANE_DATASETS = ("moons", "circles", "spiral", "blobs", "xor", "and", "or", "nand")
PLAYGROUND_DATASETS = ("playground_xor", "playground_gauss", "playground_circle", "playground_spiral",
                       "playground_plane", "playground_multi_gauss")
HOPFIELD_RULES = ("hopfield_hebbian", "storkey", "pseudo_inverse")

DEFAULT_LAB: dict[str, Any] = {
    "name": "playground",
    "description": "",
    "seed": 0,
    "repeats": 1,
    "task": {"kind": "classification", "dataset": {"name": "moons", "n_samples": 200, "noise": 0.2},
             "test_fraction": 0.25},
    "network": {"layers": [2, 8, 1], "activation": "tanh", "output_activation": "sigmoid",
                "init": {"scheme": "uniform", "scale": 1.0, "bias": "same"}},
    "train": {"epochs": 1000, "batch_size": 1},
    "rules": [{"rule": "backprop", "lr": 0.3}, {"rule": "feedback_alignment", "lr": 0.3}],
}

HOPFIELD_LETTERS = "ACT"


class PlaygroundInputError(ValueError):
    """Input the playground refuses: problems as (key path, message), like a ScenarioError."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in problems))
        self.problems = problems


@dataclass
class Opened:
    """A scenario the playground accepted: the raw dict the page keeps, the validated Scenario, notes."""

    raw: dict[str, Any]
    scenario: Scenario
    view: str  # "lab" or "hopfield"
    notes: list[str] = field(default_factory=list)


def _problems(exc: ScenarioError) -> list[tuple[str, str]]:
    return [(path, message) for path, message in exc.problems]


def single_comparison(raw: Any, source: str) -> tuple[dict[str, Any], list[str]]:
    """One comparison from a scenario dict: the first of ``tasks:`` (said in a note), one seed."""
    if not isinstance(raw, dict):
        raise PlaygroundInputError([("", f"expected a mapping of scenario keys, got {type(raw).__name__}")])
    notes = []
    if "tasks" in raw:
        try:
            parts = split_tasks(copy.deepcopy(raw), source)
        except ScenarioError as exc:
            raise PlaygroundInputError(_problems(exc)) from None
        name, raw = parts[0]
        if len(parts) > 1:
            notes.append(f"this file holds {len(parts)} comparisons; opened the first, '{name}'")
        raw = {**raw, "name": f"{raw.get('name', 'playground')}-{name}"}
    raw = copy.deepcopy(raw)
    if raw.get("repeats", 1) != 1:
        notes.append(f"the playground shows one seed: repeats {raw['repeats']} → 1 (seed {raw.get('seed', 0)})")
        raw["repeats"] = 1
    return raw, notes


def open_scenario(raw: Any, source: str = "<playground>", base_dir: Path = Path(".")) -> Opened:
    """Validate a scenario for the playground; raises PlaygroundInputError naming each key path."""
    raw, notes = single_comparison(raw, source)
    try:
        scenario = validate_scenario(raw, source, base_dir)
    except ScenarioError as exc:
        raise PlaygroundInputError(_problems(exc)) from None
    if kind_of(scenario.task).stores_patterns:  # Hopfield storage and recall: its own view
        check_hopfield(scenario)
        return Opened(raw, scenario, "hopfield", notes)
    check_lab(scenario, raw)
    return Opened(raw, scenario, "lab", notes)


def check_lab(scenario: Scenario, raw: dict[str, Any]) -> None:
    """What a live classification or regression view needs beyond a valid scenario."""
    problems: list[tuple[str, str]] = []
    kind = scenario.task.kind
    if kind not in LAB_KINDS:
        problems.append(("task.kind", f"got {kind}; the playground shows classification and regression "
                         "(and association in its Hopfield view)"))
    name = scenario.dataset_name
    if name not in PLANE_DATASETS + PLAYGROUND_DATASETS:
        problems.append(("task.dataset", f"got {name}; the playground draws data in the plane: "
                         f"{', '.join(PLANE_DATASETS + PLAYGROUND_DATASETS)}"))
    elif name == "blobs" and scenario.dataset_options.n_features != 2:
        problems.append(("task.dataset.n_features", f"got {scenario.dataset_options.n_features}; "
                         "the playground draws two inputs"))
    n_samples = getattr(scenario.dataset_options, "n_samples", 4)
    if n_samples > MAX_SAMPLES:
        problems.append(("task.dataset.n_samples", f"got {n_samples}; the playground takes at most {MAX_SAMPLES}"))
    if len(scenario.rules) > MAX_RULES:
        problems.append(("rules", f"got {len(scenario.rules)} rules; the playground shows at most {MAX_RULES}"))
    if scenario.train.epochs > MAX_EPOCHS:
        problems.append(("train.epochs", f"got {scenario.train.epochs}; the playground trains at most "
                         f"{MAX_EPOCHS} epochs"))
    if scenario.train.budget is not None and scenario.train.budget.unit == "wall_seconds":
        problems.append(("train.budget", "a wall-clock budget depends on the machine's speed; the playground "
                         "reproduces its runs exactly, so give samples or forward_passes"))
    for i, spec in enumerate(scenario.rules):
        where = f"rules[{i}]"
        if spec.network.n_params > MAX_PARAMS:
            problems.append((f"{where}.network", f"{spec.network.n_params} parameters; the playground takes at "
                             f"most {MAX_PARAMS}"))
        for k, stage in enumerate(spec.stages):
            at = f"{where}.stages[{k}]" if len(spec.stages) > 1 else where
            rule = stage.rule
            if rule.kind == "population" and not rule(stage.params).compiled:
                problems.append((f"{at}.rule", f"rule '{rule.name}' is written in Python; the playground "
                                 "steps compiled rules only"))
            elif rule.kind not in ("online", "population"):
                problems.append((f"{at}.rule", f"rule '{rule.name}' ({rule.kind}) does not train a network"))
            population = getattr(stage.params, "population", None)
            if isinstance(population, int) and population > MAX_POPULATION:
                problems.append((f"{at}.population", f"got {population}; the playground takes at most "
                                 f"{MAX_POPULATION}"))
            last = k == len(spec.stages) - 1
            if len(spec.stages) > 1 and not last and stage.epochs is None:
                problems.append((f"{at}.epochs", "the playground needs a fixed number of epochs for every "
                                 "stage but the last (the last trains for train.epochs)"))
            if len(spec.stages) > 1 and last and stage.epochs is not None:
                problems.append((f"{at}.epochs", "the last stage trains for train.epochs in the playground; "
                                 "drop its epochs"))
    if problems:
        raise PlaygroundInputError(problems)


def check_hopfield(scenario: Scenario) -> None:
    """The Hopfield view: one storage rule, patterns of at most MAX_HOPFIELD_UNITS units, one cue."""
    problems: list[tuple[str, str]] = []
    n = scenario.rules[0].network.sizes[0]
    if n > MAX_HOPFIELD_UNITS:
        problems.append(("network.layers", f"{n} units; the playground draws at most {MAX_HOPFIELD_UNITS}"))
    if scenario.dataset_name not in ("table", "letters"):
        problems.append(("task.dataset", f"got {scenario.dataset_name}; the Hopfield view draws its patterns "
                         "(a table of ±1 rows, or letters)"))
    a = scenario.task.association
    if a.cues is None or len(a.cues) != 1:
        problems.append(("task.association.cues", "the Hopfield view recalls one written cue"))
    if a.max_sweeps > MAX_SWEEPS:
        problems.append(("task.association.max_sweeps", f"got {a.max_sweeps}; at most {MAX_SWEEPS}"))
    if len(scenario.rules) != 1 or scenario.rules[0].rule.name not in HOPFIELD_RULES:
        problems.append(("rules", f"the Hopfield view stores with one rule of {', '.join(HOPFIELD_RULES)}"))
    if problems:
        raise PlaygroundInputError(problems)


def final_stage_prefix(scenario: Scenario) -> list[int]:
    """Per rule, the epochs of its stages before the last (fixed, see check_lab): its epochs at t = 0."""
    return [sum(stage.epochs or 0 for stage in spec.stages[:-1]) for spec in scenario.rules]


def export_yaml(opened: Opened, epochs: int | None) -> str:
    """The scenario as ``rulelab run`` reproduces it: train.epochs = the epochs on screen, one seed.

    Written as a run folder's scenario.yaml (defaults filled in), so it validates to the same."""
    raw = copy.deepcopy(opened.raw)
    if epochs is not None:
        raw.setdefault("train", {})
        raw["train"] = {**raw["train"], "epochs": int(epochs)}
    raw["repeats"] = 1
    scenario = validate_scenario(raw, opened.scenario.source, opened.scenario.base_dir)
    return scenario.as_yaml()

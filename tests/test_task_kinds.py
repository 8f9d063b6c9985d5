"""Task kinds are registered objects: the schema accepts exactly the registry, each kind's checks and
default metrics are its own, and no pipeline module compares kind names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rulelab.data.datasets import DataShape
from rulelab.scenario import ScenarioError, TaskConfig, validate_scenario
from rulelab.tasks.kinds import BUILT_IN_KINDS, TASK_KIND_NAMES, kind_of, task_kind

BUILT_IN = {kind.name: kind for kind in BUILT_IN_KINDS}  # plug-in kinds other tests load join TASK_KINDS

PACKAGE = Path(__file__).resolve().parent.parent / "simulator"


def test_the_schema_accepts_exactly_the_registered_kinds():
    for name in TASK_KIND_NAMES:
        assert TaskConfig.model_validate({"kind": name}).kind == name
    assert set(TASK_KIND_NAMES) == {"classification", "regression", "autoencoding", "activation_maximisation",
                                    "adversarial", "unsupervised", "association", "objective", "sequence"}
    for name, kind in BUILT_IN.items():
        assert kind.name == name and kind.summary
    with pytest.raises(ScenarioError, match="task.kind: got 'clasification'; expected one of 'classification', "
                                            "'regression', .*'sequence'.*; did you mean 'classification'\\?"):
        validate_scenario({"name": "x", "task": {"kind": "clasification", "dataset": "xor"},
                           "network": {"layers": [2, 1]}, "rules": [{"rule": "perceptron"}]})


def _task(**keys) -> TaskConfig:
    return TaskConfig.model_validate({"dataset": "xor", **keys})


@pytest.mark.parametrize("kind, test_fraction, extra, expected", [
    ("classification", 0.25, {}, ("train_accuracy", "train_loss", "test_accuracy", "test_loss")),
    ("classification", 0.0, {"validation_fraction": 0.2},
     ("train_accuracy", "train_loss", "validation_accuracy", "validation_loss")),
    ("adversarial", 0.25, {}, ("train_accuracy", "train_loss", "test_accuracy", "test_loss")),
    ("regression", 0.25, {}, ("train_loss", "test_loss")),
    ("autoencoding", 0.25, {"corruption": {"kind": "mask", "level": 0.2}},
     ("train_loss", "test_loss", "test_denoising_loss")),
    ("autoencoding", 0.0, {"corruption": {"kind": "mask", "level": 0.2}}, ("train_loss",)),
    ("unsupervised", 0.25, {}, ("pc_angle_0", "weight_norm")),
    ("association", 0.0, {}, ("overlap_mean", "overlap", "exact_recall", "sweeps")),
])
def test_default_metrics_per_kind(kind, test_fraction, extra, expected):
    task = _task(kind=kind, **extra)
    assert kind_of(task).default_metrics(task, test_fraction) == expected


def _shape(**keys) -> DataShape:
    return DataShape(**{"n_rows": 4, "n_features": 2, "n_classes": 2, "values": (0.0, 1.0), **keys})


def test_output_checks_are_each_kinds_own():
    two_classes = _shape()
    assert task_kind("classification").output_problems([2, 3, 1], ("tanh", "sigmoid"), two_classes, "network") == []
    assert task_kind("classification").output_problems([2, 3, 3], ("tanh", "softmax"), two_classes, "network") == [
        ("network.layers[2]", "got 3 outputs; the dataset has 2 classes, so expected 2 or 1")]
    assert task_kind("classification").output_problems([2, 1], ("softmax",), two_classes, "rules[0].network") == [
        ("rules[0].network", "a softmax output needs at least 2 units")]
    assert task_kind("regression").output_problems([2, 1], ("linear",), two_classes, "network") == [
        ("task.kind", "regression needs a dataset with real-valued targets "
                      "(e.g. dataset: {name: table, inputs: …, targets: …})")]
    assert task_kind("autoencoding").output_problems([2, 1, 3], ("tanh", "linear"), two_classes, "network") == [
        ("network.layers[2]", "got 3 outputs; an autoencoder reconstructs its 2 inputs")]
    problems = task_kind("association").output_problems([2, 2], ("sign",), two_classes, "network")
    assert problems and problems[0][0] == "task.dataset" and "bipolar" in problems[0][1]
    assert task_kind("unsupervised").output_problems([2, 5], ("linear",), two_classes, "network") == []


def test_kind_attributes_that_the_pipeline_reads():
    assert [n for n, k in BUILT_IN.items() if k.classifies] == ["classification", "activation_maximisation",
                                                                   "adversarial"]
    assert [n for n, k in BUILT_IN.items() if k.draws_decision_regions] == ["classification"]
    assert [n for n, k in BUILT_IN.items() if not k.splits_by_default] == ["unsupervised", "association",
                                                                               "objective"]
    assert [n for n, k in BUILT_IN.items() if k.holds_validation] == ["classification", "regression"]
    assert {n: k.targets for n, k in BUILT_IN.items()}["autoencoding"] == "inputs"
    assert [n for n, k in BUILT_IN.items() if k.recurrent] == ["sequence"]


# task.kind, or a saved scenario's task.get("kind"), compared with a task kind's name (rule and layer kinds
# are another matter)
NAMES = "|".join(TASK_KIND_NAMES)
COMPARISON = re.compile(rf"""(task\.kind|\.get\(["']kind["']\))\s*(==|!=|in\b|not in\b)\s*\(?["']({NAMES})["']""")


def test_no_pipeline_module_compares_task_kind_names():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "kinds.py" or "playground" in path.parts:
            continue  # the registry itself; the playground's list of the views it can show
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if COMPARISON.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []

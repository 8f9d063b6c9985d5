"""The stepper (rulelab.run.session): k epochs at a time give the numbers of one whole run."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.build import build_plan, prepare_data
from rulelab.run.runner import run_plan
from rulelab.run.session import Session
from rulelab.scenario import validate_scenario

SCENARIO = {
    "name": "stepper",
    "seed": 3,
    "task": {"kind": "classification", "dataset": {"name": "moons", "n_samples": 60, "noise": 0.2},
             "test_fraction": 0.25},
    "network": {"layers": [2, 5, 1], "activation": "tanh", "output_activation": "sigmoid",
                "init": {"scheme": "uniform", "scale": 1.0, "bias": "same"}},
    "train": {"epochs": 13, "batch_size": 1},
    "rules": [
        {"rule": "perceptron", "lr": 0.1, "network": {"layers": [2, 1], "activation": "step"}},
        {"rule": "delta", "lr": 0.3, "network": {"layers": [2, 1], "activation": "sigmoid"}},
        {"rule": "backprop", "lr": 0.3},
        {"rule": "feedback_alignment", "lr": 0.3},
        {"rule": "openai_es", "population": 10, "sigma": 0.3, "lr": 0.05},
        {"label": "oja+delta", "stages": [{"rule": "oja", "lr": 0.01, "epochs": 4}, {"rule": "delta", "lr": 0.2}]},
    ],
}


def _rows(record) -> list[tuple[int, str, float]]:
    """Every metric row but the wall clock (which no two runs share)."""
    return [(e, m, v) for e, m, v in record.all_rows() if m != "wall_seconds"]


def _plans(raw: dict):
    scenario = validate_scenario(raw)
    seed = scenario.seeds[0]
    data = prepare_data(scenario, seed)
    return [(spec, lambda spec=spec: build_plan(scenario, spec, seed, data)) for spec in scenario.rules]


@pytest.mark.parametrize("steps", [[1], [3, 1, 5], [100]])
def test_stepping_gives_the_whole_run(steps):
    for spec, plan in _plans(SCENARIO):
        whole = run_plan(plan())
        session = Session(plan())
        k = 0
        while not session.finished:
            before = session.epoch
            session.step(steps[k % len(steps)])
            assert session.epoch - before <= steps[k % len(steps)]
            k += 1
        assert _rows(session.record) == _rows(whole), spec.label
        assert session.record.status == whole.status, spec.label
        assert np.array_equal(session.params, whole.params), spec.label
        assert session.epoch == whole.epochs_run == 13 + (4 if spec.label == "oja+delta" else 0)


def test_a_met_criterion_and_divergence_end_a_session_as_they_end_a_run():
    raw = {**SCENARIO, "train": {"epochs": 40, "stop": {"train_accuracy": 0.8}},
           "rules": [SCENARIO["rules"][2], {"rule": "hebb", "lr": 5.0, "network": {"layers": [2, 1],
                                                                                   "activation": "linear"}},
                     SCENARIO["rules"][4]]}
    for spec, plan in _plans(raw):
        whole = run_plan(plan())
        session = Session(plan())
        while not session.finished:
            session.step(2)
        assert session.record.status == whole.status, spec.label
        assert session.record.message == whole.message, spec.label
        assert _rows(session.record) == _rows(whole), spec.label
        assert session.step(5) == []  # nothing more once finished
    assert {whole.status} <= {"converged", "not_converged", "diverged"}


def test_a_step_returns_the_blocks_it_wrote():
    (spec, plan), = _plans({**SCENARIO, "rules": [SCENARIO["rules"][2]]})
    session = Session(plan())
    blocks = session.step(4)
    assert [int(e) for b in blocks for e in b.epochs] == [1, 2, 3, 4]
    assert "train_accuracy" in blocks[0].names
    with pytest.raises(ValueError):
        session.step(-1)

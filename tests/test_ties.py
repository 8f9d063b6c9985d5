"""Tie conventions of step and sign (issue 16 item 3): the value at exactly z = 0 is explicit and selectable."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.core import kernels as K
from rulelab.core.activations import activate_block


@pytest.mark.parametrize("code,at_zero,below,above", [(K.STEP, 1.0, 0.0, 1.0), (K.STEP, 0.0, 0.0, 1.0),
                                                     (K.STEP, 0.5, 0.0, 1.0), (K.SIGN, 1.0, -1.0, 1.0),
                                                     (K.SIGN, -1.0, -1.0, 1.0), (K.SIGN, 0.0, -1.0, 1.0)])
def test_the_value_at_zero_is_the_layers_argument(code, at_zero, below, above):
    z = np.array([-1e-300, 0.0, -0.0, 1e-300])
    expected = [below, at_zero, at_zero, above]
    assert [K.activate_scalar(code, at_zero, v) for v in z] == expected
    block = z.copy()
    activate_block(code, at_zero, block)  # the population path: NumPy over whole blocks
    assert block.tolist() == expected


def _perceptron_on_and(write_scenario, at_zero: dict | None) -> np.ndarray:
    """One epoch of the perceptron (lr 1, zero weights, no shuffling) on AND; the weights after it."""
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    network = {"layers": [2, 1], "activation": "step", "init": "zeros"}
    if at_zero is not None:
        network["at_zero"] = at_zero
    raw = {"name": "ties", "seed": 0, "task": {"kind": "classification", "dataset": "and"}, "network": network,
           "train": {"epochs": 1, "shuffle": False}, "rules": [{"rule": "perceptron", "lr": 1.0}]}
    (record,) = run_scenario(load_scenario(write_scenario(raw)))
    return record.params


def test_the_perceptron_updates_by_its_tie_convention(write_scenario):
    """AND rows (0,0)→0, (0,1)→0, (1,0)→0, (1,1)→1 from w = (0, 0), b = 0, Δ = (t − y)(x, 1).

    step(0) = 1: (0,0): z = 0 → y = 1, w = (0, 0), b = −1; (0,1): z = −1 → 0 ok; (1,0): z = −1 → 0 ok;
    (1,1): z = −1 → y = 0, w = (1, 1), b = 0.
    step(0) = 0 (the notes' perceptron): (0,0), (0,1), (1,0): z = 0 → 0 ok; (1,1): z = 0 → y = 0,
    w = (1, 1), b = 1."""
    assert _perceptron_on_and(write_scenario, None).tolist() == [1.0, 1.0, 0.0]
    assert _perceptron_on_and(write_scenario, {"step": 1}).tolist() == [1.0, 1.0, 0.0]
    assert _perceptron_on_and(write_scenario, {"step": 0}).tolist() == [1.0, 1.0, 1.0]


def test_a_tie_value_outside_the_choices_is_refused(write_scenario):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "ties", "task": {"kind": "classification", "dataset": "and"},
           "network": {"layers": [2, 1], "activation": "sign", "at_zero": {"sign": 2}},
           "rules": [{"rule": "perceptron"}]}
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_scenario(raw))
    assert any(path == "network.at_zero.sign" for path, _ in info.value.problems), info.value.problems

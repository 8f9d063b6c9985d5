"""The example plug-in from docs/writing-a-rule.md, loaded the way a user loads it."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.engine import train_epoch
from simulator.network import Network
from simulator.registry import RegistryError, available_rules, load_plugin
from simulator.scenario import ScenarioError, load_scenario
from tests.conftest import ROOT

EXAMPLE = ROOT / "docs" / "examples" / "margin_perceptron.py"


def test_example_rule_update_by_hand():
    (Margin,) = load_plugin(str(EXAMPLE))
    net = Network((2, 1), ("sign",))
    params = np.zeros(3)
    rule = Margin(lr=0.1, margin=1.0)
    state = rule.init_state(net, np.random.default_rng(0))
    X, Y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    assert train_epoch(Margin.update, params, net.layout, net.act_args, state, rule.params.pack(), X, Y, 1) == 1
    np.testing.assert_allclose(params, [0.1, 0.2, 0.1])
    # t·net = 0.1 + 0.4 + 0.1 = 0.6 ≤ κ = 1: still inside the margin, so it updates again.
    train_epoch(Margin.update, params, net.layout, net.act_args, state, rule.params.pack(), X, Y, 1)
    np.testing.assert_allclose(params, [0.2, 0.4, 0.2])


def test_example_scenario_runs_with_its_plugin():
    from simulator.runner import run_scenario

    scenario = load_scenario(ROOT / "docs" / "examples" / "margin.yaml", repeats=1)
    records = run_scenario(scenario)
    assert [r.rule for r in records] == ["perceptron", "margin-perceptron"]
    assert 0.9 <= records[1].final("test_accuracy") <= 1.0


def test_plugin_listed_with_its_source():
    rules = available_rules([str(EXAMPLE)])
    assert rules["margin-perceptron"].source == f"file {EXAMPLE}"
    assert rules["perceptron"].source == "built-in"


def test_duplicate_rule_names_name_both_sources(tmp_path):
    clash = tmp_path / "clash.py"
    clash.write_text(
        "from rules.perceptron import Perceptron\n"
        "class Again(Perceptron):\n    name = 'perceptron'\n")
    with pytest.raises(RegistryError, match=f"two rules are named 'perceptron': one from built-in, one from file {clash}"):
        available_rules([str(clash)])


def test_plugin_that_fails_to_import(tmp_path, write_scenario, gates_scenario):
    bad = tmp_path / "bad.py"
    bad.write_text("import not_a_module_anywhere\n")
    gates_scenario["plugins"] = ["bad.py"]
    with pytest.raises(ScenarioError, match=r"plugins: plug-in .*bad.py failed to import: ModuleNotFoundError"):
        load_scenario(write_scenario(gates_scenario))

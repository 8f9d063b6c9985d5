"""Scenario validation: every bad input gets one clear line with file, key path, given and expected."""

from __future__ import annotations

import copy

import pytest

from rulelab.scenario import ScenarioError, apply_override, load_scenario, parse_key_path


def problems(write_scenario, raw) -> str:
    path = write_scenario(raw)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = info.value.format()
    assert str(path) in message  # the file is always named
    return message


def modified(base, path, value):
    raw = copy.deepcopy(base)
    apply_override(raw, f"{path}={value}")
    return raw


def test_valid_scenario_fills_defaults(write_scenario, gates_scenario):
    s = load_scenario(write_scenario(gates_scenario))
    assert [r.label for r in s.rules] == ["perceptron", "delta"]
    assert s.rules[1].network.activations == ("sigmoid",)
    assert s.task.test_fraction == 0.0 and s.task.loss == "squared"
    assert s.seeds == [0, 1]
    assert s.resolved["rules"][0] == {"rule": "perceptron", "label": "perceptron", "lr": 0.1}
    assert s.resolved["task"]["dataset"] == {"name": "and", "encoding": "binary"}


def test_unknown_key_with_did_you_mean(write_scenario, gates_scenario):
    raw = copy.deepcopy(gates_scenario)
    raw["trian"] = raw.pop("train")
    msg = problems(write_scenario, raw)
    assert "trian: unknown key 'trian'; did you mean 'train'?" in msg


def test_unknown_nested_key(write_scenario, gates_scenario):
    msg = problems(write_scenario, modified(gates_scenario, "train.epoch", 5))
    assert "train.epoch: unknown key 'epoch'; did you mean 'epochs'?" in msg


def test_wrong_type(write_scenario, gates_scenario):
    msg = problems(write_scenario, modified(gates_scenario, "train.epochs", "many"))
    assert "train.epochs: got 'many'; input should be a valid integer" in msg


def test_missing_field(write_scenario, gates_scenario):
    raw = copy.deepcopy(gates_scenario)
    del raw["network"]
    assert "network: missing; this key is required" in problems(write_scenario, raw)


def test_unknown_rule_with_did_you_mean(write_scenario, gates_scenario):
    msg = problems(write_scenario, modified(gates_scenario, "rules[0].rule", "perceptorn"))
    assert "rules[0].rule: unknown rule 'perceptorn'; did you mean 'perceptron'?" in msg


def test_unknown_dataset_with_did_you_mean(write_scenario, gates_scenario):
    msg = problems(write_scenario, modified(gates_scenario, "task.dataset", "mons"))
    assert "task.dataset: unknown dataset 'mons'; did you mean 'moons'?" in msg


def test_bad_dataset_option(write_scenario, gates_scenario):
    raw = modified(gates_scenario, "task.dataset", "{name: moons, noize: 0.1}")
    msg = problems(write_scenario, raw)
    assert "task.dataset.noize: unknown key 'noize'; did you mean 'noise'?" in msg


def test_hyperparameter_out_of_range(write_scenario, gates_scenario):
    msg = problems(write_scenario, modified(gates_scenario, "rules[1].lr", -0.1))
    assert "rules[1].lr: got -0.1; input should be greater than 0" in msg


def test_unknown_hyperparameter(write_scenario, gates_scenario):
    msg = problems(write_scenario, modified(gates_scenario, "rules[0].lrr", 0.1))
    assert "rules[0].lrr: unknown key 'lrr'; did you mean 'lr'?" in msg


def test_misspelt_activation(write_scenario, gates_scenario):
    msg = problems(write_scenario, modified(gates_scenario, "rules[1].network.activation", "sigmod"))
    assert "rules[1].network.activation: got 'sigmod'; expected one of" in msg
    assert "did you mean 'sigmoid'?" in msg


def test_layer_sizes_must_fit_dataset(write_scenario, gates_scenario):
    msg = problems(write_scenario, modified(gates_scenario, "network.layers", "[3, 1]"))
    assert "network.layers[0]: got 3 inputs; the dataset has 2 features" in msg
    msg = problems(write_scenario, modified(gates_scenario, "network.layers", "[2, 3]"))
    assert "network.layers[1]: got 3 outputs; the dataset has 2 classes, so expected 2 or 1" in msg


def test_rule_network_compatibility(write_scenario, gates_scenario):
    # The delta rule needs a differentiable output; the perceptron needs a threshold output.
    raw = modified(gates_scenario, "rules[1].network.activation", "step")
    assert "rules[1].network: rule 'delta' needs a differentiable activation but layer 0 uses 'step'" in \
        problems(write_scenario, raw)
    raw = modified(gates_scenario, "rules[0].network", "{activation: sigmoid}")
    assert "the perceptron rule needs a threshold output (step or sign), got 'sigmoid'" in \
        problems(write_scenario, raw)


def test_every_problem_is_reported_at_once(write_scenario, gates_scenario):
    raw = modified(gates_scenario, "rules[0].lr", 0)
    apply_override(raw, "rules[1].lr=-1")
    msg = problems(write_scenario, raw)
    assert "rules[0].lr" in msg and "rules[1].lr" in msg


def test_yaml_syntax_error_names_line(write_scenario):
    msg = problems(write_scenario, "name: x\ntask: {kind: [\n")
    assert "not valid YAML: line 3" in msg


def test_yaml_is_read_safely(write_scenario):
    msg = problems(write_scenario, "name: !!python/object/apply:os.system ['echo hi']\n")
    assert "not valid YAML" in msg


def test_top_level_must_be_a_mapping(write_scenario):
    assert "expected a mapping of keys at the top, got list" in problems(write_scenario, "- a\n- b\n")


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_duplicate_labels(write_scenario, gates_scenario):
    raw = modified(gates_scenario, "rules[1]", "{rule: perceptron, lr: 0.5}")
    assert "rules[1].label: 'perceptron' is already used by rules[0]" in problems(write_scenario, raw)


def test_given_weights_must_fit(write_scenario, gates_scenario):
    raw = modified(gates_scenario, "network.init", "{scheme: given, layers: [{weights: [[1, 2, 3]]}]}")
    assert "network.init.layers[0].weights: got 3 weights; expected 1×2 = 2" in problems(write_scenario, raw)


def test_overrides_apply_after_the_file(write_scenario, gates_scenario):
    path = write_scenario(gates_scenario)
    s = load_scenario(path, ["rules[0].lr=0.25", "train.epochs=7", "task.dataset=or"], seed=9)
    assert s.rules[0].params.lr == 0.25
    assert s.train.epochs == 7 and s.dataset_name == "or" and s.seed == 9


def test_bad_overrides(write_scenario, gates_scenario):
    path = write_scenario(gates_scenario)
    with pytest.raises(ScenarioError, match=r"rules\[5\]: index out of range \(the list has 2 items\)"):
        load_scenario(path, ["rules[5].lr=1"])
    with pytest.raises(ScenarioError, match="expected PATH=VALUE"):
        load_scenario(path, ["rules[0].lr"])
    with pytest.raises(ScenarioError, match="malformed key path"):
        load_scenario(path, ["rules[x].lr=1"])


def test_parse_key_path():
    assert parse_key_path("rules[0].lr") == ["rules", 0, "lr"]
    assert parse_key_path("network.layers[1]") == ["network", "layers", 1]


def test_shipped_scenarios_are_valid():
    from rulelab.scenario import load_scenarios
    from tests.conftest import ROOT

    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert load_scenarios(path)


def test_every_resolved_scenario_validates_again():
    """scenario.yaml in a run directory (defaults filled in) must load as it is: plot and --resume use it."""
    from rulelab.scenario import load_scenarios, validate_scenario
    from tests.conftest import ROOT

    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        for name, scenario in load_scenarios(path):
            again = validate_scenario(dict(scenario.resolved), str(path), path.parent)
            assert again.resolved == scenario.resolved, (path, name)

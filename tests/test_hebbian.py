"""Hebbian rules: hand-computed updates, principal components, divergence, two-stage training."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.rules.competitive import Competitive
from rulelab.rules.hebb import Hebb
from rulelab.rules.oja import Oja
from rulelab.rules.sanger import Sanger
from rulelab.core.engine import train_epoch
from rulelab.core.network import Network
from tests.conftest import ROOT


def apply(rule_cls, net, params, X, **hp):
    rule = rule_cls(**hp)
    state = rule.init_state(net, np.random.default_rng(0))
    X = np.ascontiguousarray(X, dtype=float)
    Y = np.zeros((len(X), 0))
    return train_epoch(rule_cls.update, params, net.layout, net.act_args, state, rule.params.pack(), X, Y, 1)


def test_oja_one_update_by_hand():
    net = Network((2, 1), ("linear",))
    params = np.array([0.6, 0.8, 0.0])
    apply(Oja, net, params, [[1.0, 0.0]], lr=0.1)
    # y = 0.6;  Δw = η y (x − y w) = 0.06 · ([1, 0] − 0.6 · [0.6, 0.8])
    np.testing.assert_allclose(params, [0.6 + 0.06 * 0.64, 0.8 - 0.06 * 0.48, 0.0])


def test_sanger_one_update_by_hand():
    net = Network((2, 2), ("linear",))
    W = np.array([[1.0, 0.0], [0.5, 0.5]])
    params = np.concatenate([W.ravel(), [0.0, 0.0]])
    x = np.array([2.0, 1.0])
    y = W @ x  # [2, 1.5]
    expected = W.copy()
    expected[0] += 0.1 * y[0] * (x - y[0] * W[0])
    expected[1] += 0.1 * y[1] * (x - y[0] * W[0] - y[1] * W[1])
    apply(Sanger, net, params, [x], lr=0.1)
    np.testing.assert_allclose(params[:4].reshape(2, 2), expected)


def test_hebb_updates_by_hand():
    net = Network((2, 1), ("linear",))
    params = np.array([0.5, 0.5, 0.0])
    apply(Hebb, net, params, [[1.0, 2.0]], lr=0.1, decay=0.5)
    # y = 1.5;  Δw = η (y x − λ w) = 0.1 · (1.5 · [1, 2] − 0.5 · [0.5, 0.5])
    np.testing.assert_allclose(params[:2], [0.5 + 0.1 * (1.5 - 0.25), 0.5 + 0.1 * (3.0 - 0.25)])
    params = np.array([0.5, 0.5, 0.0])
    apply(Hebb, net, params, [[1.0, 2.0]], lr=0.1, bound="normalize")
    w = np.array([0.5 + 0.15, 0.5 + 0.3])
    np.testing.assert_allclose(params[:2], w / np.linalg.norm(w))


def test_competitive_update_by_hand():
    net = Network((2, 2), ("linear",))
    params = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    error = apply(Competitive, net, params, [[0.9, 0.8]], lr=0.5, leak=0.1)
    # Unit 1 is nearer (distance² 0.05) and wins; unit 0 moves by η·leak.
    assert error == pytest.approx(0.01 + 0.04)
    np.testing.assert_allclose(params[:4], [0.05 * 0.9, 0.05 * 0.8, 1 - 0.5 * 0.1, 1 - 0.5 * 0.2])


@pytest.fixture(scope="module")
def oja_records():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "oja-pca.yaml", repeats=3)
    return run_scenario(scenario)


def test_oja_finds_the_first_principal_component(oja_records):
    for r in (r for r in oja_records if r.label == "oja"):
        angle = r.final("pc_angle_0")
        assert np.cos(np.radians(angle)) > 0.99  # |cos| with NumPy's first component
        assert r.final("weight_norm") == pytest.approx(1.0, abs=0.02)  # Oja normalises itself


def test_sanger_finds_the_top_components_in_order(oja_records):
    for r in (r for r in oja_records if r.label == "sanger"):
        for k in range(3):
            assert np.cos(np.radians(r.final(f"pc_angle_{k}"))) > 0.99


def test_unbounded_hebb_diverges_visibly(oja_records):
    for r in (r for r in oja_records if r.label == "hebb-unbounded"):
        assert r.status == "diverged" and "weights grew without bound" in r.message
        norms = [v for _, m, v in r.all_rows() if m == "weight_norm"]
        assert norms[1] < norms[2] < norms[3]  # it grows before it overflows
    for r in (r for r in oja_records if r.label == "hebb-normalized"):
        assert r.status == "completed" and r.final("weight_norm") == pytest.approx(1.0)


def test_two_stage_training_and_the_random_feature_control():
    from rulelab.output.results import summarize
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "hebbian-digits.yaml", repeats=2, overrides=[
        "rules[0].stages[0].epochs=2", "rules[0].stages[1].epochs=3", "train.epochs=3"])
    records = run_scenario(scenario)
    pipeline = records[0]
    assert pipeline.label == "competitive+delta" and pipeline.epochs_run == 5
    stages = [v for _, m, v in pipeline.all_rows() if m == "stage"]
    assert stages == [1, 1, 2, 2, 2]
    assert [m for _, m, _ in pipeline.all_rows() if m in ("quantization_error", "sse")][:3] == \
        ["quantization_error", "quantization_error", "sse"]
    rows = {r["rule"]: r for r in summarize(scenario, records)}
    assert rows["competitive+delta"]["family"] == "hebbian → error-correcting"
    assert rows["random-features+delta"]["vs_reference"] == "competitive+delta"


def test_random_features_are_the_initial_hidden_weights():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "hebbian-digits.yaml", repeats=1, overrides=["train.epochs=1"])
    records = run_scenario(scenario)
    control = next(r for r in records if r.label == "random-features+delta")
    backprop = next(r for r in records if r.label == "backprop")
    net = scenario.rules[2].network
    from rulelab.core.network import init_params

    init = scenario.rules[2].init
    start = init_params(net, np.random.default_rng([0, 1]), init.scheme, init.scale, init.sigma, init.bias)
    np.testing.assert_array_equal(net.weights(control.params, 0), net.weights(start, 0))
    assert not np.array_equal(net.weights(backprop.params, 0), net.weights(start, 0))


@pytest.mark.parametrize("entry,message", [
    ({"rule": "oja", "labels": True}, "rules[0].labels: unknown key 'labels'"),
    ({"rule": "oja", "layer": 3}, "oja: layer 3 does not exist; the network has 1 layers"),
    ({"stages": [{"rule": "oja"}, {"rule": "openai_es"}]}, "rules[0].stages[1].rule: rule 'openai_es' (population) cannot be a stage"),
    ({"stages": [{"rule": "oja", "epochs": -1}]}, "rules[0].stages[0].epochs: got -1; expected a whole number ≥ 0"),
    ({"rule": "oja", "stages": [{"rule": "oja"}]}, "rules[0]: give either rule: NAME or stages"),
    ({"rule": "backprop"}, "rules[0].rule: rule 'backprop' needs labels but the dataset has none"),
])
def test_hebbian_validation(write_scenario, entry, message):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "bad", "task": {"kind": "unsupervised", "dataset": "gaussian"},
           "network": {"layers": [5, 2], "activation": "linear"}, "rules": [entry]}
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_scenario(raw))
    assert message in info.value.format()

"""Conv nets from scenario files: layer mappings and their messages, data with a shape, runs and figures."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rulelab.scenario import ScenarioError, validate_scenario
from tests.conftest import ROOT

CNN = [64, {"kind": "conv2d", "channels": 4, "kernel": 3, "padding": "same"}, {"kind": "pool2d", "size": 2},
       {"kind": "flatten"}, 10]


def scenario(layers=None, rules=None, **network):
    return {"name": "cnn", "task": {"kind": "classification", "dataset": "digits"},
            "network": {"layers": layers or CNN, "activation": "relu", "output_activation": "softmax", **network},
            "train": {"epochs": 1}, "rules": rules or [{"rule": "backprop"}]}


def problems(raw) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as info:
        validate_scenario(raw)
    return info.value.problems


def test_layer_mappings_build_the_network():
    s = validate_scenario(scenario())
    net = s.rules[0].network
    assert net.input_shape == (1, 8, 8)  # the digits' own sample shape, from the size 64
    assert net.kinds == ("conv2d", "pool2d", "flatten", "dense")
    assert net.activations == ("relu", "linear", "linear", "softmax")
    assert net.shapes() == [(4, 8, 8), (4, 4, 4), (64,), (10,)]
    assert net.n_params == 4 * 9 + 4 + 64 * 10 + 10
    # The scenario as it ran validates again to the same network.
    again = validate_scenario(s.resolved)
    assert again.rules[0].network == net


@pytest.mark.parametrize("layers,path,words", [
    ([64, {"kind": "conv3d", "channels": 2, "kernel": 3}, 10], "network.layers[1].kind",
     "unknown layer kind 'conv3d'; did you mean 'conv2d'? (expected one of dense, conv1d"),
    ([64, {"kind": "conv2d", "channels": 2, "kernel": 0}, 10], "network.layers[1].kernel",
     "got 0; expected k or [rows, columns], each ≥ 1"),
    ([64, {"kind": "conv2d", "channels": 2, "kernal": 3}, 10], "network.layers[1].kernal",
     "unknown key 'kernal'; did you mean 'kernel'?"),
    ([64, {"kind": "conv2d", "channels": 2, "kernel": 9}, 10], "network.layers[1]",
     "a kernel of 9 does not fit an input of 8"),
    ([64, {"kind": "conv1d", "channels": 2, "kernel": 3}, 10], "network.layers[1]",
     "conv1d needs an input of shape (channels, length); it gets (1, 8, 8); for images use the 2d kind"),
    ([[2, 8, 8], 10], "network.layers[0]", "got shape [2, 8, 8] (128 values); the dataset has 64 features"),
    ([64, {"kind": "pool2d", "size": 2, "padding": 2}, 10], "network.layers[1]",
     "padding must be smaller than the pooling window"),
    ([64, {"kind": "dropout", "rate": 1.0}, 10], "network.layers[1].rate", "got 1.0; input should be less than 1"),
    ([64, {"kind": "pool2d", "op": "median"}, 10], "network.layers[1].op", "got 'median'"),
    ([64, "flatten", 10], "network.layers[1]", "expected a layer size (a whole number) or a mapping"),
    ([64, {"kind": "flatten"}], "network.layers[1]", "the output layer cannot be flatten"),
])
def test_bad_layers_are_reported_at_their_key_path(layers, path, words):
    found = problems(scenario(layers))
    assert any(p == path and words in m for p, m in found), found


def test_a_rule_that_cannot_train_a_kind_is_refused_naming_the_layer():
    found = problems(scenario(rules=[{"rule": "openai_es"}, {"rule": "perceptron"},
                                     {"rule": "oja", "layer": 2}]))
    # An evolution strategy needs forward passes only: it trains every kind (tests/test_es.py checks its fitness).
    assert not any(p == "rules[0]" for p, _ in found), found
    # The perceptron trains the output layer (on conv features) but needs a threshold output.
    assert any(p == "rules[1]" and "threshold output" in m for p, m in found)
    assert ("rules[2]", "rule 'oja' cannot train layer 2 (flatten): it trains dense, conv1d, conv2d layers only") in found


def test_validate_prints_every_layer_with_its_shape_and_parameters(write_scenario):
    from rulelab.cli import main

    result = CliRunner().invoke(main, ["validate", str(write_scenario(scenario()))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    table = [line for line in lines if line.startswith("#   ")]
    assert table[0].split() == ["#", "layer", "output", "shape", "parameters"]
    assert table[1].split()[-2:] == ["1×8×8", "0"]
    assert table[2].split()[-2:] == ["4×8×8", "40"] and "conv2d 4 × 3×3" in table[2]
    assert table[3].split()[-2:] == ["4×4×4", "0"] and "pool2d max 2×2" in table[3]
    assert table[5].split()[-2:] == ["10", "650"]
    assert table[6].split()[-1] == "690"
    yaml.safe_load(result.output.split("\n", 1)[1])  # the table is YAML comments: the output stays YAML


# ------------------------------------------------------------------ data with a shape


def test_mnist1d_is_the_published_data_set():
    """Values of the data set the mnist1d package (0.0.2) generates with its defaults, seed 42."""
    from rulelab.data.mnist1d import make_mnist1d

    X, y = make_mnist1d()
    assert X.shape == (5000, 40) and np.bincount(y).tolist() == [500] * 10
    np.testing.assert_allclose(X[0, :5], [-0.33200566736939013, -0.4719103656557236, -0.778697076293495,
                                          -1.0097408265367045, -0.8823525654053073], rtol=1e-12)
    assert y[:12].tolist() == [2, 6, 4, 5, 6, 6, 6, 0, 3, 1, 6, 9]
    np.testing.assert_allclose(X[-1, -3:], [0.6598756470890784, 0.8777343497528006, 1.1931518368352758],
                               rtol=1e-12)
    shuffled, y2 = make_mnist1d(shuffle=True)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_allclose(shuffled[0, :5], [1.0358740294925417, 0.4101984957624668, -0.8823525654053073,
                                                 -1.093485710822378, 0.8673925837312527], rtol=1e-12)
    assert abs(X.mean()) < 1e-12 and abs(X.std() - 1) < 1e-12


def test_datasets_bring_their_sample_shape(tmp_path):
    from rulelab.data.datasets import DATASETS

    rng = np.random.default_rng(0)
    digits = DATASETS["digits"]
    assert digits.make(digits.Options(), rng, tmp_path).sample_shape == (1, 8, 8)
    m1d = DATASETS["mnist1d"]
    data = m1d.make(m1d.Options(n_samples=50), rng, tmp_path)
    assert data.sample_shape == (1, 40) and data.X.shape == (50, 40)
    rows = np.hstack([rng.random((6, 12)), np.arange(6)[:, None] % 2])
    np.savetxt(tmp_path / "d.csv", rows, delimiter=",")
    csv = DATASETS["csv"]
    assert csv.make(csv.Options(path="d.csv", shape=[3, 4]), rng, tmp_path).sample_shape == (3, 4)
    with pytest.raises(ValueError, match=r"shape \[2, 4\] holds 8 values; each sample has 12 features"):
        csv.make(csv.Options(path="d.csv", shape=[2, 4]), rng, tmp_path)
    np.savez(tmp_path / "i.npz", X=rng.random((5, 6, 7)), y=np.arange(5) % 2)
    npz = DATASETS["npz"]
    images = npz.make(npz.Options(path="i.npz"), rng, tmp_path)
    assert images.sample_shape == (1, 6, 7) and images.X.shape == (5, 42) and images.image_shape == (6, 7)


# ------------------------------------------------------------------ runs and figures


def test_a_small_conv_scenario_runs_every_family_and_draws_its_figures(tmp_path, write_scenario):
    from rulelab.cli import main

    raw = scenario(rules=[
        {"rule": "backprop", "lr": 0.05},
        {"rule": "feedback_alignment", "lr": 0.05, "label": "fa"},
        {"label": "softhebb+delta", "stages": [{"rule": "softhebb", "lr": 0.01, "epochs": 2},
                                               {"rule": "delta", "lr": 0.1, "epochs": 2}]},
        {"rule": "backprop", "label": "dropout", "lr": 0.05,
         "network": {"layers": CNN[:4] + [{"kind": "dropout", "rate": 0.2}, 10]}},
    ])
    raw["task"]["test_fraction"] = 0.5
    raw["train"] = {"epochs": 3}
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(write_scenario(raw)), "--out", str(out), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with open(out / "summary.csv") as fh:
        summary = {row["rule"]: float(row["mean"]) for row in csv.DictReader(fh) if row["metric"] == "test_accuracy"}
    assert summary["backprop"] > 0.85 and summary["fa"] > 0.5 and summary["dropout"] > 0.8
    assert summary["softhebb+delta"] > 0.3  # ten classes: chance is 0.1
    figures = {p.name for p in (out / "figures").glob("*.png")}
    for name in ("filters-backprop.png", "feature-maps-backprop.png", "hebbian-filters-softhebb_delta.png"):
        assert name in figures
    with np.load(out / "inputs.npz") as saved:
        snaps = saved["softhebb+delta/seed0/hebbian_filters"]
        assert snaps.shape == (3, 4 * 9)  # before training and after each of the 2 Hebbian epochs
        assert saved["softhebb+delta/seed0/hebbian_filters_epochs"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("kind,metric", [("adversarial", "adversarial_success_rate"),
                                         ("activation_maximisation", "max_activation_mean")])
def test_inputs_are_optimised_through_conv_layers(tmp_path, write_scenario, kind, metric):
    """Activation maximisation and adversarial examples on a CNN: the input gradient runs through the
    conv and pooling layers (tests/test_layers.py checks it against finite differences)."""
    from rulelab.cli import main

    raw = scenario(rules=[{"rule": "backprop", "lr": 0.05}])
    optimise = ({"steps": 30, "units": [0, 3], "lr": 0.5} if kind == "activation_maximisation"
                else {"steps": 30, "samples": 4, "budget": 0.5})
    raw["task"] = {"kind": kind, "dataset": "digits", "test_fraction": 0.2, "optimise": optimise}
    raw["train"] = {"epochs": 2}
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(write_scenario(raw)), "--out", str(out), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with open(out / "metrics.csv") as fh:
        rows = {r["metric"]: float(r["value"]) for r in csv.DictReader(fh)}
    if kind == "adversarial":
        assert rows[metric] > 0.5  # small perturbations flip most of a 2-epoch CNN's answers
    else:
        assert rows[metric] > rows["start_activation_mean"]  # gradient ascent raised the output units
    figures = {p.name.split("-seed")[0] for p in (out / "figures").glob("*.png")}
    assert ("adversarial-backprop" if kind == "adversarial" else "activation-maximisation-backprop") in figures

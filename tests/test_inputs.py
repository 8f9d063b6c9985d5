"""Optimising inputs with weights fixed: gradients, activation maximisation, adversarial examples."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.core import kernels as K
from rulelab.core.gradient import input_gradient
from rulelab.tasks.inputs import adversarial_examples, maximise_activations, perturbation_size
from rulelab.core.network import Network, init_params
from tests.conftest import ROOT


def small_net(seed=0):
    net = Network((6, 5, 3), ("tanh", "softmax"))
    return net, init_params(net, np.random.default_rng(seed), "normal", sigma=0.8, bias_init="same")


def fd_input(net, params, x, f, h=1e-6):
    out = np.empty_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        out[i] = (f(up) - f(down)) / (2 * h)
    return out


@pytest.mark.parametrize("layer,unit", [(0, 2), (1, 1), (-1, -1)])
def test_input_gradient_matches_finite_differences(layer, unit):
    net, params = small_net()
    x = np.random.default_rng(1).normal(size=6)
    t = np.array([0.0, 1.0, 0.0])
    n = net.n_units
    z, a, d, gx = np.empty(n), np.empty(n), np.empty(n), np.empty(6)

    def f(v):
        if unit < 0:
            out = K.forward(params, net.layout, net.act_args, v, z, a)
            return K.sample_loss(K.CROSS_ENTROPY, out.copy(), t, K.SOFTMAX)
        K.forward(params, net.layout, net.act_args, v, z, a)
        return K.layer_buffer(z, net.layout, layer)[unit]

    value = input_gradient(params, net.layout, net.act_args, x, t, K.CROSS_ENTROPY, max(layer, 0), unit,
                           z, a, d, gx)
    assert value == pytest.approx(f(x), rel=1e-12)
    np.testing.assert_allclose(gx, fd_input(net, params, x, f), rtol=1e-6, atol=1e-9)


def test_activation_maximisation_raises_each_unit_within_the_box():
    net, params = small_net()
    result = maximise_activations(net, params, 1, [0, 1, 2], steps=100, lr=0.1, l2=0.0, box=(-1.0, 1.0),
                                  start=np.zeros(6), rng=np.random.default_rng(0))
    assert result.inputs.shape == (3, 6)
    assert np.all(result.activations > result.start_activations + 0.5)
    assert result.inputs.min() >= -1.0 and result.inputs.max() <= 1.0


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_adversarial_examples_flip_the_class_within_budget(norm):
    net, params = small_net(3)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 6))
    buf_z, buf_a = np.empty(net.n_units), np.empty(net.n_units)
    labels = np.array([int(np.argmax(K.forward(params, net.layout, net.act_args, x, buf_z, buf_a))) for x in X])
    budget = 3.0 if norm == "l2" else 1.5
    result = adversarial_examples(net, params, X, labels, norm, budget, 30, (-10.0, 10.0), K.CROSS_ENTROPY)
    assert result.success_rate > 0.5
    for x0, adv, y, pred, eps in zip(result.originals, result.adversarials, result.labels, result.predicted,
                                     result.epsilons):
        out = K.forward(params, net.layout, net.act_args, adv, buf_z, buf_a)
        if np.isfinite(eps):
            assert pred != y and int(np.argmax(out)) == pred
            assert eps == pytest.approx(perturbation_size(adv - x0, norm))
            assert eps <= budget + 1e-12
        else:
            assert pred == y
    # A budget far too small flips nothing, and says so.
    tiny = adversarial_examples(net, params, X[:4], labels[:4], norm, 1e-6, 5, (-10.0, 10.0), K.CROSS_ENTROPY)
    assert tiny.success_rate == 0.0 and np.isnan(tiny.epsilons).all()


def test_scenarios_from_previous_weights(tmp_path):
    from rulelab.output.results import RunWriter
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    common = ["train.epochs=3", "rules=[{rule: backprop, lr: 0.02}]"]
    trained = load_scenario(ROOT / "scenarios" / "adversarial.yaml", overrides=common + ["task.kind=classification"])
    writer = RunWriter(tmp_path / "trained", trained, "test")
    for record in run_scenario(trained):
        writer.add(record)
    writer.finish()
    scenario = load_scenario(ROOT / "scenarios" / "adversarial.yaml",
                             overrides=common + ["train.epochs=0", f"task.weights_from={tmp_path / 'trained'}",
                                                 "task.optimise.samples=3", "task.optimise.steps=5"])
    (record,) = run_scenario(scenario)
    assert record.final("test_accuracy") == writer.records[0].final("test_accuracy")
    assert record.artifacts["adversarial_originals"].shape[1] == 64
    assert 0.0 <= record.final("adversarial_success_rate") <= 1.0


def test_input_task_validation(write_scenario):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "am", "task": {"kind": "activation_maximisation", "dataset": "digits",
                                  "optimise": {"units": [3, 12]}},
           "network": {"layers": [64, 10], "activation": "softmax"}, "rules": [{"rule": "backprop"}]}
    with pytest.raises(ScenarioError, match=r"task.optimise.units: got \[12\]; layer -1 has units 0 … 9"):
        load_scenario(write_scenario(raw))
    raw["task"] = {"kind": "adversarial", "dataset": "digits", "weights_from": "no/such/run"}
    with pytest.raises(ScenarioError, match="task.weights_from: no weights.npz in 'no/such/run'"):
        load_scenario(write_scenario(raw))


def test_images_written_for_image_data(tmp_path):
    from click.testing import CliRunner

    from rulelab.cli import main

    result = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / "activation-maximisation.yaml"), "--out",
                                       str(tmp_path / "am"), "--quiet", "--set", "train.epochs=1",
                                       "--set", "task.optimise.steps=5", "--set", "task.optimise.units=[0,1]"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "am" / "figures" / "activation-maximisation-backprop-seed0.png").exists()
    with np.load(tmp_path / "am" / "inputs.npz") as saved:
        assert saved["backprop/seed0/activation_maximisation"].shape == (2, 64)

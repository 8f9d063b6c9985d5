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


@pytest.mark.parametrize("layer,unit,of_activation", [(0, 2, False), (1, 1, False), (-1, -1, False),
                                                       (0, 2, True), (1, 1, True), (1, 0, True)])
def test_input_gradient_matches_finite_differences(layer, unit, of_activation):
    """∂z/∂x, ∂a/∂x (a = tanh(z) in layer 0, a = softmax(z)_u in layer 1) and ∂E/∂x, against differences."""
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
        return K.layer_buffer(a if of_activation else z, net.layout, layer)[unit]

    value = input_gradient(params, net.layout, net.act_args, x, t, K.CROSS_ENTROPY, max(layer, 0), unit,
                           of_activation, z, a, d, gx)
    assert value == pytest.approx(f(x), rel=1e-12)
    np.testing.assert_allclose(gx, fd_input(net, params, x, f), rtol=1e-6, atol=1e-9)


def test_activation_maximisation_raises_each_unit_within_the_box():
    net, params = small_net()
    result = maximise_activations(net, params, 1, [0, 1, 2], steps=100, lr=0.1, l2=0.0, box=(-1.0, 1.0),
                                  start=np.zeros(6), rng=np.random.default_rng(0))
    assert result.inputs.shape == (3, 6)
    assert np.all(result.activations > result.start_activations + 0.5)
    assert result.inputs.min() >= -1.0 and result.inputs.max() <= 1.0


@pytest.mark.parametrize("maximise", ["z", "a"])
def test_one_sigmoid_unit_is_maximised_at_the_box_corner(maximise):
    """a = σ(w·x + b) and z = w·x + b both peak at x = sign(w) in [−1, 1]^d: z* = |w|₁ + b, a* = σ(z*)."""
    net = Network((4, 1), ("sigmoid",))
    params = np.array([0.8, -0.5, 0.3, -1.2, 0.1])
    result = maximise_activations(net, params, 0, [0], steps=400, lr=0.5, l2=0.0, box=(-1.0, 1.0),
                                  start=np.zeros(4), rng=np.random.default_rng(0), of_activation=maximise == "a")
    np.testing.assert_array_equal(result.inputs[0], [1.0, -1.0, 1.0, -1.0])
    z_best = 0.8 + 0.5 + 0.3 + 1.2 + 0.1
    expected = z_best if maximise == "z" else 1 / (1 + np.exp(-z_best))
    assert result.activations[0] == pytest.approx(expected, rel=1e-14)


def test_maximising_a_softmax_probability_is_not_maximising_its_logit():
    """a_u = softmax(z)_u rises only as z_u pulls away from the other logits: ascent on a reaches a higher
    probability than ascent on z_u, which also lifts the rivals."""
    net, params = small_net(4)
    buf_z, buf_a = np.empty(net.n_units), np.empty(net.n_units)
    for unit in range(3):
        runs = {m: maximise_activations(net, params, 1, [unit], steps=500, lr=0.2, l2=0.0, box=(-3.0, 3.0),
                                        start=np.zeros(6), rng=np.random.default_rng(1), of_activation=m == "a")
                for m in ("a", "z")}
        probability = {m: K.forward(params, net.layout, net.act_args, r.inputs[0], buf_z, buf_a)[unit]
                       for m, r in runs.items()}
        assert runs["a"].activations[0] == pytest.approx(probability["a"], rel=1e-12)
        assert probability["a"] > probability["z"] + 0.1
        assert probability["a"] > runs["a"].start_activations[0] + 0.3


def test_maximising_a_step_unit_is_refused(write_scenario):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "am", "task": {"kind": "activation_maximisation", "dataset": "digits",
                                  "optimise": {"layer": 0, "maximise": "a"}},
           "network": {"layers": [64, 16, 10], "activation": "step", "output_activation": "softmax"},
           "rules": [{"rule": "perceptron"}]}
    with pytest.raises(ScenarioError, match="task.optimise.maximise: got a, but layer 0 uses step"):
        load_scenario(write_scenario(raw))


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

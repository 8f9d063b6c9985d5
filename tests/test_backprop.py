"""Backprop and its variants: the notes' worked example, finite differences, behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.rules.backprop import Backprop
from rulelab.rules.direct_feedback_alignment import DirectFeedbackAlignment
from rulelab.rules.feedback_alignment import FeedbackAlignment
from rulelab.core import gradient as G
from rulelab.core import kernels as K
from rulelab.core.network import Network, encode_targets, init_params
from tests.conftest import ROOT

WORKED = ROOT / "scenarios" / "backprop-worked-example.yaml"


def worked_net():
    net = Network((2, 2, 2), ("sigmoid", "sigmoid"))
    params = np.array([0.15, 0.20, 0.25, 0.30, 0.35, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.60])
    return net, params


def gradient_of(rule_cls, net, params, x, t, loss, state=None, **hp):
    """∂E/∂θ for one sample as the rule computes it (BP exact; FA/DFA their pseudo-gradient)."""
    rule = rule_cls(**hp)
    if state is None:
        state = rule.init_state(net, np.random.default_rng(0))
    G.accumulate_gradient(params, net.layout, net.act_args, state, np.asarray(x, float),
                          np.asarray(t, float), K.LOSS_CODES[loss], rule.mode, 1.0)
    g0 = 1 + 3 * net.n_units
    return state[g0:g0 + net.n_params].copy(), state


def test_worked_example_forward_values():
    net, params = worked_net()
    z, a = np.empty(4), np.empty(4)
    out = K.forward(params, net.layout, net.act_args, np.array([0.05, 0.10]), z, a)
    assert a[0] == pytest.approx(0.593269992, abs=1e-9)  # out_h1
    assert out[0] == pytest.approx(0.75136507, abs=1e-8)  # out_o1
    assert out[1] == pytest.approx(0.772928465, abs=1e-9)  # out_o2
    e = K.sample_loss(K.SQUARED, out, np.array([0.01, 0.99]), K.SIGMOID)
    assert e == pytest.approx(0.298371109, abs=1e-9)


def test_worked_example_gradient_dE_dw5():
    net, params = worked_net()
    grad, _ = gradient_of(Backprop, net, params, [0.05, 0.10], [0.01, 0.99], "squared")
    assert grad[6] == pytest.approx(0.0821670406, abs=1e-10)  # w5 is W_out[0, 0]


def test_worked_example_scenario_one_update():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    (record,) = run_scenario(load_scenario(WORKED))
    losses = [v for _, m, v in record.all_rows() if m == "train_loss"]
    assert losses[0] == pytest.approx(0.298371109, abs=1e-9)
    assert losses[1] == pytest.approx(0.291027774, abs=1e-9)
    assert record.params[6] == pytest.approx(0.358916480, abs=1e-9)  # w5
    assert record.params[0] == pytest.approx(0.149780716, abs=1e-9)  # w1
    assert record.params[4] == 0.35 and record.params[10] == 0.60  # biases not updated


def finite_difference(net, params, x, t, loss, h=1e-6):
    z, a = np.empty(net.n_units), np.empty(net.n_units)
    code = K.LOSS_CODES[loss]
    out_code = net.layout[-1, K.ACT]

    def energy(p):
        out = K.forward(p, net.layout, net.act_args, x, z, a)
        return K.sample_loss(code, out.copy(), t, out_code)

    numeric = np.empty_like(params)
    for i in range(params.size):
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (energy(up) - energy(down)) / (2 * h)
    return numeric


OUTPUTS = {"squared": ["linear", "sigmoid", "tanh", "softmax", "relu"],
           "cross_entropy": ["softmax", "sigmoid"],
           "hinge": ["linear", "tanh"]}
CASES = [(hidden, out, loss) for loss, outs in OUTPUTS.items() for out in outs
         for hidden in ["linear", "sigmoid", "tanh", "relu", "leaky_relu"]]


@pytest.mark.parametrize("hidden,out,loss", CASES)
def test_gradient_matches_finite_differences(hidden, out, loss):
    rng = np.random.default_rng(hash((hidden, out, loss)) % 2 ** 32)
    net = Network((4, 5, 3), (hidden, out), leaky_slope=0.1)
    params = init_params(net, rng, "normal", sigma=0.7, bias_init="same")
    x = rng.normal(size=4)
    t = encode_targets(np.array([1]), 3, out)[0]
    grad, _ = gradient_of(Backprop, net, params, x, t, loss)
    np.testing.assert_allclose(grad, finite_difference(net, params, x, t, loss), rtol=1e-5, atol=1e-7)


def test_gradient_three_hidden_layers():
    rng = np.random.default_rng(7)
    net = Network((3, 6, 5, 4, 2), ("tanh", "sigmoid", "leaky_relu", "softmax"), leaky_slope=0.05)
    params = init_params(net, rng, "normal", sigma=0.8, bias_init="same")
    x, t = rng.normal(size=3), np.array([0.0, 1.0])
    for loss in ("cross_entropy", "squared"):
        grad, _ = gradient_of(Backprop, net, params, x, t, loss)
        np.testing.assert_allclose(grad, finite_difference(net, params, x, t, loss), rtol=1e-5, atol=1e-8)


def test_feedback_alignment_with_b_equal_w_is_backprop():
    rng = np.random.default_rng(3)
    net = Network((3, 4, 4, 2), ("tanh", "sigmoid", "sigmoid"))
    params = init_params(net, rng, "normal", sigma=0.5, bias_init="same")
    x, t = rng.normal(size=3), np.array([1.0, 0.0])
    bp, _ = gradient_of(Backprop, net, params, x, t, "squared")
    fa_rule = FeedbackAlignment()
    state = fa_rule.init_state(net, rng)
    fb = 1 + 3 * net.n_units + 3 * net.n_params
    for layer in (1, 2):  # B_l := W_l turns feedback alignment into backprop
        w = net.weights(params, layer).ravel()
        state[fb:fb + w.size] = w
        fb += w.size
    fa, _ = gradient_of(FeedbackAlignment, net, params, x, t, "squared", state=state)
    np.testing.assert_allclose(fa, bp, rtol=1e-12)
    # With its own random B, only the output layer's gradient agrees with backprop.
    fa_random, _ = gradient_of(FeedbackAlignment, net, params, x, t, "squared")
    out = slice(int(net.layout[2, K.W_OFF]), net.n_params)
    np.testing.assert_allclose(fa_random[out], bp[out], rtol=1e-12)
    assert not np.allclose(fa_random[:out.start], bp[:out.start])


def test_direct_feedback_alignment_one_hidden_layer_with_d_equal_wt_is_backprop():
    rng = np.random.default_rng(4)
    net = Network((3, 5, 2), ("tanh", "sigmoid"))
    params = init_params(net, rng, "normal", sigma=0.5, bias_init="same")
    x, t = rng.normal(size=3), np.array([0.0, 1.0])
    bp, _ = gradient_of(Backprop, net, params, x, t, "squared")
    state = DirectFeedbackAlignment().init_state(net, rng)
    fb = 1 + 3 * net.n_units + 3 * net.n_params
    state[fb:fb + 10] = net.weights(params, 1).T.ravel()  # D_0 := W_1ᵀ (hidden × outputs)
    dfa, _ = gradient_of(DirectFeedbackAlignment, net, params, x, t, "squared", state=state)
    np.testing.assert_allclose(dfa, bp, rtol=1e-12)


def test_optimisers_by_hand():
    net = Network((1, 1), ("linear",))
    layout = net.layout
    n_units, n_params = 1, 2
    g0 = 1 + 3 * n_units

    def step(hp_values, grads, params):
        state = np.zeros(G.state_size(net, G.BACKPROP))
        for g in grads:
            state[g0:g0 + n_params] = g
            G.apply_gradient(params, layout, state, Backprop.Params(**hp_values).pack())
        return params

    # Momentum: v1 = −η g, v2 = μ v1 − η g.
    p = step({"lr": 0.1, "momentum": 0.9}, [[1.0, 2.0], [1.0, 2.0]], np.zeros(2))
    np.testing.assert_allclose(p, [-0.1 - 0.19, -0.2 - 0.38])
    # Adam's first step moves every parameter by η (bias-corrected m̂/√v̂ = sign g).
    p = step({"lr": 0.01, "optimizer": "adam"}, [[3.0, -0.5]], np.zeros(2))
    np.testing.assert_allclose(p, [-0.01, 0.01], rtol=1e-6)
    # L2 adds 2λW to the weight (not the bias); decay divides η by 1 + decay·t.
    p = step({"lr": 0.5, "l2": 0.1}, [[0.0, 0.0]], np.array([1.0, 1.0]))
    np.testing.assert_allclose(p, [1.0 - 0.5 * 0.2, 1.0])
    p = step({"lr": 1.0, "lr_decay": 1.0}, [[1.0, 0.0], [1.0, 0.0]], np.zeros(2))
    np.testing.assert_allclose(p, [-1.0 - 0.5, 0.0])


@pytest.mark.parametrize("rule_cls,loss,dtype,update_biases", [
    (Backprop, "cross_entropy", "float64", True), (Backprop, "squared", "float32", True),
    (FeedbackAlignment, "squared", "float64", True), (DirectFeedbackAlignment, "cross_entropy", "float64", True),
    (Backprop, "cross_entropy", "float64", False), (FeedbackAlignment, "squared", "float32", False)])
def test_minibatch_averages_the_gradient(rule_cls, loss, dtype, update_biases):
    """The BLAS minibatch path equals the mean of per-sample gradients (same feedback matrices):
    plain SGD (weights stepped by in-place GEMMs) and the buffered path (frozen biases)."""
    rng = np.random.default_rng(5)
    net = Network((3, 4, 5, 2), ("tanh", "relu", "softmax"), dtype=dtype)
    params = init_params(net, rng, "glorot", bias_init="same")
    X, T = rng.normal(size=(6, 3)), encode_targets(rng.integers(0, 2, 6), 2, "softmax")
    rule = rule_cls(lr=0.3, loss=loss, update_biases=update_biases)
    state0 = rule.init_state(net, np.random.default_rng(9))
    expected = np.zeros(net.n_params)
    for x, t in zip(X, T):
        g, _ = gradient_of(rule_cls, net, params.astype(float), x, t, loss, state=state0.astype(float).copy())
        expected += g / 6
    if not update_biases:
        for layer in net.layout:
            expected[layer[K.B_OFF]:layer[K.B_OFF] + layer[K.N_OUT]] = 0.0
    from rulelab.core.engine import train_epoch

    after = params.copy()
    train_epoch(rule_cls.update, after, net.layout, net.act_args, state0.copy(), rule.params.pack(),
                X.astype(dtype), T.astype(dtype), 6)
    tol = 2e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(after, params.astype(float) - 0.3 * expected, rtol=tol, atol=tol)


def test_xor_success_rate_over_20_seeds_is_reported():
    from rulelab.output.results import summarize
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "xor.yaml", overrides=["rules=[{rule: backprop, lr: 0.5}]"])
    records = run_scenario(scenario)
    solved = [r for r in records if r.status == "converged"]
    stuck = [r for r in records if r.status == "not_converged"]
    assert len(records) == 20 and len(solved) + len(stuck) == 20
    assert len(solved) >= 12  # most seeds learn XOR …
    assert all(r.final("train_accuracy") == 1.0 for r in solved)
    assert all(r.final("train_accuracy") < 1.0 for r in stuck)
    (row,) = summarize(scenario, records)
    assert row["converged"] == f"{len(solved)}/20"
    if stuck:  # … and the ones stuck in a local minimum are reported, not hidden
        assert f"did not converge within 3000 epochs on {len(stuck)}/20 seeds" in row["note"]


def test_digits_one_hidden_layer_reaches_96_percent():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "digits.yaml", repeats=1,
                             overrides=["rules=[{rule: backprop, lr: 0.02}]"])
    (record,) = run_scenario(scenario)
    assert record.final("test_accuracy") >= 0.96


@pytest.mark.parametrize("override,message", [
    ("rules[0].loss=cross_entropy",
     "rules[0]: cross_entropy needs a softmax (or sigmoid) output, got 'linear'"),
    ("rules[0].network={activation: step}",
     "rules[0].network: rule 'backprop' needs a differentiable activation but layer 0 uses 'step'"),
    ("rules[0].network={output_activation: softmax}",
     "rules[0].network: the hinge loss works on raw scores: use a linear output instead of softmax"),
])
def test_gradient_rules_reject_bad_setups(write_scenario, override, message):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "bad", "task": {"dataset": "blobs"}, "network": {"layers": [2, 4, 2], "activation": "tanh",
           "output_activation": "linear"}, "rules": [{"rule": "backprop"}]}
    if "softmax" in override:
        raw["rules"][0]["loss"] = "hinge"
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_scenario(raw), [override])
    assert message in info.value.format()


def test_rules_table_shows_weight_transport():
    from rulelab.registry import available_rules

    rules = available_rules()
    assert "weight transport" in rules["backprop"].describe()["needs"]
    for name in ("feedback_alignment", "direct_feedback_alignment"):
        assert "weight transport" not in rules[name].describe()["needs"]
        assert rules[name].needs.weight_transport is False


@pytest.mark.parametrize("rule_cls", [Backprop, FeedbackAlignment, DirectFeedbackAlignment])
def test_online_sgd_kernel_matches_the_general_kernel(rule_cls):
    from rulelab.core.engine import train_epoch

    rng = np.random.default_rng(8)
    net = Network((5, 6, 4, 3), ("tanh", "relu", "softmax"))
    params = init_params(net, rng)
    X, T = rng.normal(size=(20, 5)), encode_targets(rng.integers(0, 3, 20), 3, "softmax")
    rule = rule_cls(lr=0.05, loss="cross_entropy", lr_decay=0.01)
    from rulelab.core.straight import straight_kernel

    # A net this small gets its step written out (rulelab.core.straight) where the rule has that form.
    written_out = straight_kernel(net.layout, 1, rule.mode, "float64")
    assert (written_out is not None) == (rule_cls is not DirectFeedbackAlignment)
    assert rule.kernel(net, 1) is (written_out or rule_cls.sgd_online) and rule.kernel(net, 4) is rule_cls.update
    assert rule_cls(lr=0.05, momentum=0.5).kernel(net, 1) is rule_cls.update  # not plain SGD
    results = []
    for kernel in (rule_cls.sgd_online, rule_cls.update, written_out or rule_cls.sgd_online):
        p = params.copy()
        state = rule.init_state(net, np.random.default_rng(1))
        signal = train_epoch(kernel, p, net.layout, net.act_args, state, rule.params.pack(), X, T, 1)
        results.append((p, signal))
    for params, signal in results[1:]:
        np.testing.assert_array_equal(results[0][0], params)
        assert results[0][1] == signal


def test_full_objective_with_weight_decay_by_hand():
    """J = (1/N) Σ ½(t − o)² + λ Σ W² (biases excluded): the penalty whose gradient 2λW backprop adds."""
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import validate_scenario

    raw = {"name": "decay", "task": {"kind": "regression", "dataset": {
               "name": "table", "inputs": [[1.0, 2.0], [0.0, -1.0]], "targets": [[1.0], [0.5]]}},
           "network": {"layers": [2, 1], "activation": "linear", "init": {"scheme": "given", "layers": [
               {"weights": [[0.5, -0.25]], "bias": [0.1]}]}},
           "train": {"epochs": 1, "batch_size": 2, "shuffle": False},
           "rules": [{"rule": "backprop", "lr": 0.1, "l2": 0.2}, {"rule": "backprop", "label": "plain", "lr": 0.1}]}
    scenario = validate_scenario(raw)
    assert scenario.metrics == ("train_loss", "train_objective")
    decayed, plain = run_scenario(scenario)
    rows = {(e, m): v for e, m, v in decayed.all_rows()}
    # Epoch 0: o = (0.5 − 0.5 + 0.1, 0 + 0.25 + 0.1) = (0.1, 0.35); loss = (½·0.9² + ½·0.15²)/2 = 0.208125;
    # R = 0.5² + 0.25² = 0.3125 (the bias 0.1 is not part of it); J = 0.208125 + 0.2 · 0.3125 = 0.270625.
    assert rows[(0, "train_loss")] == pytest.approx(0.208125, abs=1e-15)
    assert rows[(0, "train_objective")] == pytest.approx(0.270625, abs=1e-15)
    # One step of the batch: ∂loss/∂w = mean (o − t) x = ((−0.9)(1, 2) + (−0.15)(0, −1))/2 = (−0.45, −0.825),
    # + 2λw = (0.2, −0.1) → w = (0.5, −0.25) − 0.1 (−0.25, −0.925) = (0.525, −0.1575); b = 0.1 + 0.1·0.525 = 0.1525.
    np.testing.assert_allclose(decayed.params, [0.525, -0.1575, 0.1525], atol=1e-15)
    o = np.array([0.525 - 0.315 + 0.1525, 0.1575 + 0.1525])
    loss = np.mean(0.5 * (np.array([1.0, 0.5]) - o) ** 2)
    assert rows[(1, "train_loss")] == pytest.approx(loss, abs=1e-15)
    assert rows[(1, "train_objective")] == pytest.approx(loss + 0.2 * (0.525 ** 2 + 0.1575 ** 2), abs=1e-15)
    # Without decay there is no objective column (files of such runs are unchanged).
    assert not any(m.endswith("_objective") for _, m, _ in plain.all_rows())
    # The step is the gradient of J: along it, J falls as a first-order model of J says.
    from rulelab.core.network import Network

    net = Network((2, 1), ("linear",))
    X, T = np.array([[1.0, 2.0], [0.0, -1.0]]), np.array([[1.0], [0.5]])

    def objective(p):
        return K.evaluate(p, net.layout, net.act_args, X, T, np.zeros(0, dtype=np.int64), K.SQUARED, 0.5)[0] \
            + 0.2 * (p[0] ** 2 + p[1] ** 2)

    start = np.array([0.5, -0.25, 0.1])
    gradient = np.array([(objective(start + h) - objective(start - h)) / 2e-6 for h in np.eye(3) * 1e-6])
    np.testing.assert_allclose(start - 0.1 * gradient, decayed.params, atol=1e-9)

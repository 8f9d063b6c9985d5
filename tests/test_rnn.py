"""Recurrent nets: BPTT against finite differences and a hand-worked example, truncation, e-prop against a slow
NumPy reference of its published equations (Bellec et al. 2020), and short training runs."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.rules.bptt import BPTT, BPTTFeedbackAlignment
from rulelab.rules.eprop import Eprop
from rulelab.tasks import sequence as S
from rulelab.tasks.sequence import RecurrentNet, sequence_gradient


def _problem(net: RecurrentNet, seed: int = 0, every_step: bool = False):
    rng = np.random.default_rng(seed)
    params = net.init_params(rng) * 2.0  # larger than the default: gradients far from zero
    x = rng.normal(size=net.steps * net.features)
    y = np.zeros((net.steps, net.classes))
    if net.output == "softmax":
        y[np.arange(net.steps), rng.integers(0, net.classes, net.steps)] = 1.0
    else:
        y[:] = rng.normal(size=y.shape)
    m = np.ones(net.steps) if every_step else np.eye(net.steps)[-1]
    return params, x, y.ravel(), m


def _loss(net, params, x, y, m):
    return S.evaluate(net, params, x[None], y[None], m[None])[0]


def numpy_forward(net: RecurrentNet, params: np.ndarray, x: np.ndarray):
    """The net written out in NumPy: h_t = α h_{t−1} + (1−α)(W s_{t−1} + U x_t + b), s_t = G(h_t)."""
    p = net.parts(params)
    G = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0)}[
        net.activation]
    X = x.reshape(net.steps, net.features)
    h, s = np.zeros(net.hidden), np.zeros(net.hidden)
    hs, ss, os_ = [], [], []
    for t in range(net.steps):
        h = net.leak * h + (1 - net.leak) * (p["W"] @ s + p["U"] @ X[t] + p["b"])
        s_prev, s = s, G(h)
        z = p["V"] @ s + p["c"]
        o = np.exp(z - z.max()) / np.exp(z - z.max()).sum() if net.output == "softmax" else z
        hs.append(h.copy()), ss.append(s_prev.copy()), os_.append(o)
    return np.array(hs), np.array(ss), np.array(os_)


NETS = [RecurrentNet(2, 3, 3, 1), RecurrentNet(2, 3, 3, 4), RecurrentNet(1, 4, 2, 9, activation="sigmoid"),
        RecurrentNet(2, 3, 2, 6, leak=0.4), RecurrentNet(3, 3, 2, 5, output="linear"),
        RecurrentNet(2, 4, 3, 7, activation="relu", leak=0.2)]


@pytest.mark.parametrize("net", NETS, ids=lambda n: f"T{n.steps}-{n.activation}-{n.output}-a{n.leak}")
@pytest.mark.parametrize("every_step", [False, True])
def test_bptt_matches_finite_differences(net, every_step):
    params, x, y, m = _problem(net, every_step=every_step)
    grad, loss, _ = sequence_gradient(BPTT(), net, params, x, y, m)
    assert loss == pytest.approx(_loss(net, params, x, y, m), rel=1e-12)
    eps = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        up, down = params.copy(), params.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (_loss(net, up, x, y, m) - _loss(net, down, x, y, m)) / (2 * eps)
    assert np.abs(grad).max() > 1e-3
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_compiled_forward_matches_numpy():
    net = RecurrentNet(2, 4, 3, 6, leak=0.3)
    params, x, _, _ = _problem(net)
    h, s, o = S.run_forward(net, params, x)
    h_ref, _, o_ref = numpy_forward(net, params, x)
    np.testing.assert_allclose(h, h_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(o, o_ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("every_step", [False, True])
def test_truncation_to_the_sequence_length_is_full_bptt_exactly(every_step):
    net = RecurrentNet(2, 4, 3, 6, leak=0.25)
    params, x, y, m = _problem(net, every_step=every_step)
    full, _, _ = sequence_gradient(BPTT(), net, params, x, y, m)
    for k in (net.steps, net.steps + 3):
        truncated, _, _ = sequence_gradient(BPTT(truncation=k), net, params, x, y, m)
        assert np.array_equal(truncated, full)  # bit for bit
    shorter, _, _ = sequence_gradient(BPTT(truncation=net.steps - 1), net, params, x, y, m)
    assert not np.allclose(shorter, full)


def _chunked_reference(net, params, x, y, m, k):
    """BPTT(k, k) written as its definition: each chunk of k steps (counted back from the end) backpropagates
    the losses inside it to the chunk's first step only, the chunk starting from the true forward states."""
    p = net.parts(params)
    h, s_prev, o = numpy_forward(net, params, x)
    s = np.tanh(h)
    X, Y = x.reshape(net.steps, -1), y.reshape(net.steps, -1)
    grads = {name: np.zeros_like(v) for name, v in p.items()}
    T = net.steps
    for end in range(T, 0, -k):
        dh_next = np.zeros(net.hidden)
        for t in range(end - 1, max(end - k, 0) - 1, -1):
            e = m[t] * (o[t] - Y[t])
            grads["V"] += np.outer(e, s[t])
            grads["c"] += e
            dh = (1 - s[t] ** 2) * (p["V"].T @ e + p["W"].T @ dh_next)
            grads["W"] += np.outer(dh, s_prev[t])
            grads["U"] += np.outer(dh, X[t])
            grads["b"] += dh
            dh_next = dh
    return np.concatenate([grads[n].ravel() for n in ("W", "U", "b", "V", "c")])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_truncated_bptt_matches_its_definition(k):
    net = RecurrentNet(2, 3, 3, 7)
    params, x, y, m = _problem(net, every_step=True)
    grad, _, _ = sequence_gradient(BPTT(truncation=k), net, params, x, y, m)
    np.testing.assert_allclose(grad, _chunked_reference(net, params, x, y, m, k), rtol=1e-12, atol=1e-14)


def test_two_step_example_by_hand():
    """Notes 004 in their notation, T = 2, one hidden unit: s_t = tanh(w s_{t−1} + u x_t + b), y_t = softmax(V s_t),
    d = d_1 + d_2, d_t = −log y_{t,c}.  With w = 0.5, u = 1, b = 0, V = [1, −1]ᵀ, x = (1, 1), class 0 at both
    steps, s_0 = 0:

        s_1 = tanh(1) = 0.761594,   s_2 = tanh(0.5·0.761594 + 1) = tanh(1.380797) = 0.881130
        y_{t,0} = σ(2 s_t):  y_{1,0} = 0.821007,  y_{2,0} = 0.853492
        ∂d_t/∂s_t = −2 (1 − y_{t,0}):  −0.357985,  −0.293015
        ∂d/∂w = ∂d_2/∂s_2 · ∂*s_2/∂w = −0.293015 · (1 − s_2²) s_1 = −0.293015 · 0.223611 · 0.761594 = −0.049901
                (∂s_1/∂w = 0: s_0 = 0, so w has no implicit path yet)
        ∂d/∂u = ∂d_1/∂s_1 · ∂s_1/∂u + ∂d_2/∂s_2 · [∂*s_2/∂u + ∂s_2/∂s_1 · ∂s_1/∂u]
              = −0.357985 · 0.419974 + −0.293015 · (0.223611 · 1 + 0.223611 · 0.5 · 0.419974 · 1)
              = −0.150345 + −0.293015 · 0.270566 = −0.229624
    """
    w, u, V = 0.5, 1.0, np.array([1.0, -1.0])
    s1 = np.tanh(u * 1.0)
    s2 = np.tanh(w * s1 + u * 1.0)
    assert (s1, s2) == (pytest.approx(0.761594, abs=1e-6), pytest.approx(0.881130, abs=1e-6))
    y10, y20 = 1 / (1 + np.exp(-2 * s1)), 1 / (1 + np.exp(-2 * s2))
    assert (y10, y20) == (pytest.approx(0.821007, abs=1e-6), pytest.approx(0.853492, abs=1e-6))
    dd1, dd2 = -2 * (1 - y10), -2 * (1 - y20)
    explicit_u2 = (1 - s2 ** 2) * 1.0
    implicit_u2 = (1 - s2 ** 2) * w * (1 - s1 ** 2) * 1.0
    assert dd2 * (1 - s2 ** 2) * s1 == pytest.approx(-0.049901, abs=1e-6)
    assert dd1 * (1 - s1 ** 2) + dd2 * (explicit_u2 + implicit_u2) == pytest.approx(-0.229624, abs=1e-6)

    net = RecurrentNet(features=1, hidden=1, classes=2, steps=2)
    params = np.array([w, u, 0.0, V[0], V[1], 0.0, 0.0])  # W, U, b, V (2×1), c
    y = np.array([1.0, 0.0, 1.0, 0.0])
    grad, loss, _ = sequence_gradient(BPTT(), net, params, np.array([1.0, 1.0]), y, np.ones(2))
    assert loss == pytest.approx(-np.log(0.821007) - np.log(0.853492), abs=1e-5)
    assert grad[0] == pytest.approx(-0.049901, abs=1e-6)  # ∂d/∂w
    assert grad[1] == pytest.approx(-0.229624, abs=1e-6)  # ∂d/∂u
    # Truncated to one step, u keeps its explicit parts only: −0.150345 + −0.293015 · 0.223611 = −0.215866.
    grad1, _, _ = sequence_gradient(BPTT(truncation=1), net, params, np.array([1.0, 1.0]), y, np.ones(2))
    assert grad1[1] == pytest.approx(-0.215866, abs=1e-6)


def eprop_reference(net: RecurrentNet, params: np.ndarray, x: np.ndarray, y: np.ndarray, m: np.ndarray,
                    B: np.ndarray) -> np.ndarray:
    """e-prop as published (Bellec et al. 2020), slowly, for every synapse j←i separately:
    eligibility vector ε_ji^t = (∂h_j^t/∂h_j^{t−1}) ε_ji^{t−1} + ∂h_j^t/∂W_ji, eligibility trace
    e_ji^t = (∂s_j^t/∂h_j^t) ε_ji^t, learning signal L_j^t = Σ_k B_kj (π_k^t − π*_k^t),
    dE/dW_ji = Σ_t L_j^t e_ji^t; readout ∂E/∂V = Σ_t (π^t − π*^t) s_tᵀ.  Here h_j^t = α h_j^{t−1} + (1−α)(Σ_i W_ji
    s_i^{t−1} + Σ_i U_ji x_i^t + b_j): ∂h_j^t/∂h_j^{t−1} = α, ∂h_j^t/∂W_ji = (1−α) s_i^{t−1}."""
    a = net.leak
    h, s_prev, o = numpy_forward(net, params, x)
    s = np.tanh(h)
    H, F = net.hidden, net.features
    X, Y = x.reshape(net.steps, F), y.reshape(net.steps, -1)
    eps_W, eps_U, eps_b = np.zeros((H, H)), np.zeros((H, F)), np.zeros(H)
    gW, gU, gb = np.zeros((H, H)), np.zeros((H, F)), np.zeros(H)
    gV, gc = np.zeros((net.classes, H)), np.zeros(net.classes)
    for t in range(net.steps):
        for j in range(H):
            for i in range(H):
                eps_W[j, i] = a * eps_W[j, i] + (1 - a) * s_prev[t, i]
            for i in range(F):
                eps_U[j, i] = a * eps_U[j, i] + (1 - a) * X[t, i]
            eps_b[j] = a * eps_b[j] + (1 - a)
        psi = 1 - s[t] ** 2  # pseudo-derivative ∂s_j^t/∂h_j^t
        err = m[t] * (o[t] - Y[t])
        L = B.T @ err
        gW += (L * psi)[:, None] * eps_W
        gU += (L * psi)[:, None] * eps_U
        gb += L * psi * eps_b
        gV += np.outer(err, s[t])
        gc += err
    return np.concatenate([gW.ravel(), gU.ravel(), gb, gV.ravel(), gc])


@pytest.mark.parametrize("leak", [0.0, 0.6])
@pytest.mark.parametrize("feedback", ["random", "symmetric"])
def test_eprop_matches_numpy_reference(leak, feedback):
    net = RecurrentNet(2, 3, 3, 6, leak=leak)
    params, x, y, m = _problem(net, every_step=True)
    rule = Eprop(feedback=feedback)
    fixed = rule.feedback_matrix(net, params, np.random.default_rng(7))
    grad, _, _ = sequence_gradient(rule, net, params, x, y, m, fixed)
    B = (fixed if fixed is not None else net.parts(params)["V"]).reshape(net.classes, net.hidden)
    np.testing.assert_allclose(grad, eprop_reference(net, params, x, y, m, B), rtol=1e-12, atol=1e-14)


def test_symmetric_eprop_without_leak_is_one_step_bptt():
    net = RecurrentNet(2, 3, 3, 6)
    params, x, y, m = _problem(net, every_step=True)
    eprop, _, _ = sequence_gradient(Eprop(feedback="symmetric"), net, params, x, y, m)
    bptt1, _, _ = sequence_gradient(BPTT(truncation=1), net, params, x, y, m)
    full, _, _ = sequence_gradient(BPTT(), net, params, x, y, m)
    np.testing.assert_allclose(eprop, bptt1, rtol=1e-13, atol=1e-15)
    assert not np.allclose(eprop, full)


def test_feedback_alignment_changes_only_the_hidden_error():
    net = RecurrentNet(2, 3, 3, 5)
    params, x, y, m = _problem(net, every_step=True)
    rule = BPTTFeedbackAlignment()
    B = rule.feedback_matrix(net, params, np.random.default_rng(1))
    fa, _, _ = sequence_gradient(rule, net, params, x, y, m, B)
    bp, _, _ = sequence_gradient(BPTT(), net, params, x, y, m)
    ov = net.n_params - net.classes * net.hidden - net.classes
    np.testing.assert_array_equal(fa[ov:], bp[ov:])  # the readout's own gradient is exact
    assert not np.allclose(fa[:ov], bp[:ov])
    swapped = params.copy()
    swapped[ov:ov + B.size] = B  # with B = V, feedback alignment is BPTT
    fa_v, _, _ = sequence_gradient(rule, net, swapped, x, y, m, B)
    bp_v, _, _ = sequence_gradient(BPTT(), net, swapped, x, y, m)
    np.testing.assert_array_equal(fa_v, bp_v)


# ---------------------------------------------------------------- sequence datasets

def test_delayed_recall_answers_the_parity_at_the_cue():
    from rulelab.data.sequences import DelayedRecallOptions, delayed_recall

    s = delayed_recall(DelayedRecallOptions(n_samples=50, bits=3, delay=4), np.random.default_rng(0))
    assert (s.steps, s.features, s.classes) == (8, 2, 2)
    X, Y = s.X.reshape(50, 8, 2), s.Y.reshape(50, 8, 2)
    bits = (X[:, :3, 0] > 0).astype(int)
    assert np.array_equal(Y[:, -1].argmax(axis=1), bits.sum(axis=1) % 2)
    assert np.all(X[:, 3:, 0] == 0) and np.all(X[:, -1, 1] == 1) and np.all(X[:, :-1, 1] == 0)
    assert np.array_equal(s.M, np.tile(np.eye(8)[-1], (50, 1)))


def test_adding_problem_target_is_the_sum_of_the_marked_values():
    from rulelab.data.sequences import AddingOptions, adding

    s = adding(AddingOptions(n_samples=40, steps=12), np.random.default_rng(1))
    X = s.X.reshape(40, 12, 2)
    assert np.all(X[:, :6, 1].sum(axis=1) == 1) and np.all(X[:, 6:, 1].sum(axis=1) == 1)
    np.testing.assert_allclose(s.Y.reshape(40, 12)[:, -1], (X[:, :, 0] * X[:, :, 1]).sum(axis=1))
    assert s.regression


def test_embedded_reber_strings_follow_the_grammar_and_targets_are_the_next_symbol():
    from rulelab.data.sequences import _REBER, REBER_SYMBOLS, ReberOptions, embedded_reber, embedded_reber_string

    rng = np.random.default_rng(2)
    for _ in range(50):
        s = embedded_reber_string(rng)
        assert s[0] == "B" and s[-1] == "E" and s[1] == s[-2] and s[1] in "TP"
        inner, state = s[2:-2], 0
        assert inner[0] == "B" and inner[-1] == "E"
        for ch in inner[1:-1]:
            state = dict(_REBER[state])[ch]  # KeyError if a symbol is not allowed here
        assert state == 5
    data = embedded_reber(ReberOptions(n_samples=20), rng)
    X, Y = data.X.reshape(20, -1, 7), data.Y.reshape(20, -1, 7)
    counted = data.M > 0
    assert np.array_equal(X[:, 1:][counted[:, 1:]].argmax(-1), Y[:, :-1][counted[:, 1:]].argmax(-1))
    assert REBER_SYMBOLS[int(X[0, 0].argmax())] == "B"


def test_next_character_targets_are_the_text_shifted_by_one():
    from rulelab.data.sequences import TextOptions, next_character, shipped_text

    s = next_character(TextOptions(n_samples=5, steps=12), np.random.default_rng(3))
    X, Y = s.X.reshape(5, 12, -1), s.Y.reshape(5, 12, -1)
    assert np.array_equal(X[:, 1:].argmax(-1), Y[:, :-1].argmax(-1))
    window = "".join(s.vocabulary[i] for i in X[0].argmax(-1))
    assert window in shipped_text()
    assert shipped_text().startswith("alice was beginning to get very tired")


def test_clipping_bounds_the_update_by_the_global_norm():
    net = RecurrentNet(2, 3, 3, 6)
    params, x, y, m = _problem(net, every_step=True)
    grad, _, _ = sequence_gradient(BPTT(), net, params, x, y, m)
    norm = np.linalg.norm(grad)
    assert norm > 0.5
    from rulelab.tasks import recurrent as R

    for clip, expected in ((0.0, grad), (0.5, grad * 0.5 / norm), (10 * norm, grad)):
        p = params.copy()
        R.apply_gradient(p, net.dims, BPTT(lr=1.0, clip=clip).params.pack(), grad.copy(),
                         np.zeros(1 + 2 * p.size), 1)
        np.testing.assert_allclose(params - p, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("settings", [dict(optimizer="adam", lr=0.01, l2=0.1, lr_decay=0.5),
                                      dict(optimizer="sgd", momentum=0.9, lr=0.1, l2=0.05),
                                      dict(optimizer="sgd", lr=0.1, lr_decay=1.0)])
def test_optimisers_match_their_equations(settings):
    """Three updates of SGD (momentum v ← μv + g, p ← p − η_t v) or Adam (bias-corrected moments) with
    L2 (g += 2λw on W, U, V; not on b, c) and η_t = η / (1 + decay · t), against NumPy."""
    from rulelab.tasks import recurrent as R

    net = RecurrentNet(2, 3, 2, 4)
    rng = np.random.default_rng(5)
    params = net.init_params(rng)
    hp = BPTT(**settings).params
    p, state = params.copy(), np.zeros(1 + 2 * params.size)
    ref, m, v = params.copy(), np.zeros_like(params), np.zeros_like(params)
    weights = np.zeros(params.size, dtype=bool)
    for name in ("W", "U", "V"):
        net.parts(weights.view(np.uint8))[name][...] = 1  # the weights' positions in the flat vector
    for t in range(3):
        grad = rng.normal(size=params.size) * 2.0  # a minibatch of 2 rows: R divides by 2
        R.apply_gradient(p, net.dims, hp.pack(), grad.copy(), state, 2)
        g = grad / 2 + np.where(weights, 2 * hp.l2 * ref, 0.0)
        lr = hp.lr / (1 + hp.lr_decay * t)
        if hp.optimizer == "adam":
            m = hp.beta1 * m + (1 - hp.beta1) * g
            v = hp.beta2 * v + (1 - hp.beta2) * g * g
            ref -= lr * (m / (1 - hp.beta1 ** (t + 1))) / (np.sqrt(v / (1 - hp.beta2 ** (t + 1))) + hp.eps)
        else:
            m = hp.momentum * m + g
            ref -= lr * m
        np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-15)
    assert not np.allclose(p, params)


def test_a_run_in_chunks_gives_the_numbers_of_one_call_and_stops_between_chunks(monkeypatch):
    from rulelab.data.sequences import DelayedRecallOptions, delayed_recall
    from rulelab.tasks import recurrent as R

    data = delayed_recall(DelayedRecallOptions(n_samples=40, bits=2, delay=2), np.random.default_rng(0))
    net = RecurrentNet(2, 4, 2, data.steps)
    start = net.init_params(np.random.default_rng(1))
    sets = ((data.X[:30], data.Y[:30], data.M[:30]), (data.X[30:], data.Y[30:], data.M[30:]))

    def run(chunk_seconds, interrupted=None):
        monkeypatch.setattr(S, "CHUNK_SECONDS", chunk_seconds)
        calls = []
        result = S.train(Eprop(lr=0.05, optimizer="adam"), net, start, *sets, 6, 4, np.random.default_rng(2),
                         np.random.default_rng(3), progress=calls.append, interrupted=interrupted)
        return result, calls

    whole, whole_calls = run(1e9)  # the first epoch, then the other five in one call
    chunked, chunk_calls = run(0.0)  # one epoch per call
    assert whole_calls == [1, 5] and chunk_calls == [1] * 6
    assert np.array_equal(whole.params, chunked.params)
    keep = [c for c in range(R.METRIC_COLUMNS) if c != R.M_WALL]
    assert np.array_equal(whole.metrics[:, keep], chunked.metrics[:, keep], equal_nan=True)
    stopped, calls = run(0.0, interrupted=lambda: True)
    assert stopped.interrupted and stopped.epochs_run == 1 and calls == [1]
    assert np.array_equal(stopped.metrics[:, keep], chunked.metrics[:2, keep], equal_nan=True)

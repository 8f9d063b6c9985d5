"""Compiled recurrent networks: an Elman layer with a dense readout, BPTT (full and truncated), e-prop, and whole
training runs in one compiled call.

The network (notes 004, with an optional leak α; α = 0 is the notes' net exactly):

    h_t = α h_{t−1} + (1 − α)(W s_{t−1} + U x_t + b),   s_t = G(h_t),   s_{−1} = 0, h_{−1} = 0
    o_t = softmax(V s_t + c)  (classification)   or   o_t = V s_t + c  (regression)
    loss = Σ_t m_t d_t,  d_t = −log o_t[true class]  or  ½ ‖o_t − y_t‖²

``m_t`` (the mask) says at which steps a loss is counted: the last step only (classification of a
sequence) or every step (sequence to sequence, next-step prediction).

The Elman step itself — a step's input to the units, Wᵀδ back through time, a step's share of the weight
step — is the recurrent layer kind's (:mod:`rulelab.core.recurrent`): one implementation, with the W and U
rows found where this net keeps them.  What is this task's own composes around it: the leak, the
readout at every step, the mask, truncation and e-prop's traces.  Everything else compiled lives in this
one module on purpose: Numba keys a cached function on its own source file only, so a kernel here calling
a kernel in another non-core module would be served stale after that module changed (the core is covered
by rulelab.core.jit's fingerprint).

Arrays: ``dims`` (int64) = [F, H, C, T, ACT, OUT]; ``netf`` (float64) = [α]; ``params`` flat
= W (H×H), U (H×F), b (H), V (C×H), c (C), row-major.  A sample is one row of X (T·F values, step
by step), of Y (T·C targets) and of M (T mask weights).
"""

from __future__ import annotations

import numpy as np
from numba import njit, typeof, types

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.clock import monotonic_ns
from rulelab.core.engine import visiting_order
from rulelab.core.jit import ByDtype
from rulelab.core.population import (NOISE_STREAMS, PARALLEL_NOISE, S_MEAN, _fill_gaussian, ask_signature,
                                     fill_gaussian_serial, tell_signature)
from rulelab.core.recurrent import add_step_outer, add_transposed, elman_input
from rulelab.core.rows import row_add, row_dot
from rulelab.core.vecmath import sigmoid_inplace, sigmoid_scalar, tanh_inplace, tanh_scalar
from rulelab.tasks.sequence_params import P  # hyperparameter slots: hp[P.lr], …

D_F, D_H, D_C, D_T, D_ACT, D_OUT = range(6)
TANH, SIGMOID, RELU = 0, 1, 2
ACTIVATION_CODES = {"tanh": TANH, "sigmoid": SIGMOID, "relu": RELU}
SOFTMAX_CE, LINEAR_SQUARED = 0, 1

# Rule modes.
BPTT, EPROP = 0, 1
SGD, ADAM = 0, 1
# Metric columns of a run.
M_TRAIN_LOSS, M_TRAIN_ACC, M_TEST_LOSS, M_TEST_ACC, M_SAMPLES, M_WALL, M_GRAD_NORM = range(7)
METRIC_COLUMNS = 7
# Regression counts a step as right when |o − y| < 0.04 (Hochreiter & Schmidhuber 1997's adding problem).
REGRESSION_TOLERANCE = 0.04


@njit(cache=True)
def offsets(dims):
    """(U, b, V, c, end) offsets of the flat parameter vector."""
    F, H, C = dims[D_F], dims[D_H], dims[D_C]
    u = H * H
    b = u + H * F
    v = b + H
    c = v + C * H
    return u, b, v, c, c + C


@njit(cache=True)
def activate(z, code):
    """G(z): tanh, sigmoid or ReLU."""
    if code == TANH:
        return tanh_scalar(z)  # rulelab's own: branch-free, the same bits in every process
    if code == SIGMOID:
        return sigmoid_scalar(z)
    return z if z > 0.0 else 0.0


@njit(cache=True)
def derivative(h, s, code):
    """G′(h) from h and s = G(h): 1 − s², s(1 − s), or [h > 0]."""
    if code == TANH:
        return 1.0 - s * s
    if code == SIGMOID:
        return s * (1.0 - s)
    return 1.0 if h > 0.0 else 0.0


@njit(cache=True)
def forward(params, dims, netf, x, m, h, s, o):
    """h_t = α h_{t−1} + (1−α)(W s_{t−1} + U x_t + b), s_t = G(h_t), o_t = softmax(V s_t + c) or V s_t + c.

    Fills h (T×H), s ((T+1)×H, row 0 the initial state s_{−1} = 0, row t+1 is s_t) and o (T×C) — o_t only
    at the steps with m_t ≠ 0 (no other step's output is ever read: classifying a sequence at its last step
    skips 39 of MNIST-1D's 40 readouts)."""
    F, H, T = dims[D_F], dims[D_H], dims[D_T]
    code = dims[D_ACT]
    alpha = netf[0]
    ou, ob, ov, oc, _ = offsets(dims)
    for j in range(H):
        s[0, j] = 0.0
    for t in range(T):
        previous_state = s[t]
        xt = x[t * F:(t + 1) * F]
        ht = h[t]
        # The layer kind's step (rulelab.core.recurrent): rows of W and U as dot products in a fixed order.
        elman_input(params, 0, H, ou, F, ob, previous_state, xt, ht)
        if alpha != 0.0 and t > 0:
            for j in range(H):
                ht[j] = alpha * h[t - 1, j] + (1.0 - alpha) * ht[j]
        elif alpha != 0.0:
            for j in range(H):
                ht[j] = (1.0 - alpha) * ht[j]
        state = s[t + 1]
        for j in range(H):
            state[j] = ht[j]
        # The whole-array activations of rulelab.core.vecmath run in vector lanes (compiled with NumPy's
        # error model: a division there may not raise, so the loop vectorises); the same bits as activate().
        if code == TANH:
            tanh_inplace(state)
        elif code == SIGMOID:
            sigmoid_inplace(state)
        else:
            for j in range(H):
                state[j] = ht[j] if ht[j] > 0.0 else 0.0
        if m[t] != 0.0:
            readout(params, dims, ov, oc, state, o[t])


@njit(cache=True)
def readout(params, dims, ov, oc, state, o):
    """o = softmax(V s + c) (shifted by its largest value) or V s + c."""
    H, C = dims[D_H], dims[D_C]
    largest = -np.inf
    for k in range(C):
        z = params[oc + k] + row_dot(params, ov + k * H, state)
        o[k] = z
        largest = max(largest, z)
    if dims[D_OUT] == SOFTMAX_CE:
        total = 0.0
        for k in range(C):
            o[k] = np.exp(o[k] - largest)
            total += o[k]
        for k in range(C):
            o[k] /= total


@njit(cache=True)
def step_loss(dims, o, y, t):
    """d_t = −log o_t[true class] (the target's largest entry) or ½ ‖o_t − y_t‖²."""
    C = dims[D_C]
    if dims[D_OUT] == SOFTMAX_CE:
        total = 0.0
        for k in range(C):
            if y[t * C + k] != 0.0:
                total -= y[t * C + k] * np.log(max(o[t, k], 1e-300))
        return total
    total = 0.0
    for k in range(C):
        e = o[t, k] - y[t * C + k]
        total += 0.5 * e * e
    return total


@njit(cache=True)
def step_correct(dims, o, y, t):
    """1 if step t is right: argmax o_t is the true class, or every |o_t − y_t| < 0.04 (regression)."""
    C = dims[D_C]
    if dims[D_OUT] == SOFTMAX_CE:
        best = 0
        truth = 0
        for k in range(1, C):
            if o[t, k] > o[t, best]:
                best = k
            if y[t * C + k] > y[t * C + truth]:
                truth = k
        return 1.0 if best == truth else 0.0
    for k in range(C):
        if abs(o[t, k] - y[t * C + k]) >= REGRESSION_TOLERANCE:
            return 0.0
    return 1.0


@njit(cache=True)
def sequence_loss(params, dims, netf, x, y, m, h, s, o):
    """(Σ_t m_t d_t, Σ_t m_t [step t right], Σ_t m_t) of one sequence."""
    forward(params, dims, netf, x, m, h, s, o)
    loss = 0.0
    right = 0.0
    counted = 0.0
    for t in range(dims[D_T]):
        if m[t] != 0.0:
            loss += m[t] * step_loss(dims, o, y, t)
            right += m[t] * step_correct(dims, o, y, t)
            counted += m[t]
    return loss, right, counted


@njit(cache=True)
def evaluate(params, dims, netf, X, Y, M, h, s, o):
    """(mean loss per sequence, accuracy over the counted steps) on a set; (NaN, NaN) for an empty set."""
    n = X.shape[0]
    if n == 0:
        return np.nan, np.nan
    loss = 0.0
    right = 0.0
    counted = 0.0
    for r in range(n):
        l, c, k = sequence_loss(params, dims, netf, X[r], Y[r], M[r], h, s, o)
        loss += l
        right += c
        counted += k
    return loss / n, right / counted if counted > 0 else np.nan


@njit(cache=True)
def output_error(dims, o, y, m, t, e):
    """e_t = m_t (o_t − y_t): ∂(m_t d_t)/∂(V s_t + c) for softmax with cross-entropy and for linear with ½‖·‖²."""
    C = dims[D_C]
    for k in range(C):
        e[k] = m[t] * (o[t, k] - y[t * C + k]) if m[t] != 0.0 else 0.0  # o_t is not computed where m_t = 0


@njit(cache=True)
def bptt_gradient(params, dims, netf, x, y, m, h, s, o, feedback, truncation, grad, dh_norms):
    """BPTT after a forward pass: δ_t = G′(h_t) ⊙ (Bᵀ e_t + (1−α) Wᵀ δ_{t+1}) + α δ_{t+1}, summed into grad:
    ∂W += (1−α) δ_t s_{t−1}ᵀ, ∂U += (1−α) δ_t x_tᵀ, ∂b += (1−α) δ_t, ∂V += e_t s_tᵀ, ∂c += e_t.

    B is V (backprop) or a fixed random matrix of V's shape (feedback alignment for the readout).
    ``truncation`` k > 0 cuts the flow δ_{t+1} → δ_t at the start of each chunk of k steps counted back
    from the last step (BPTT(k, k) of Williams & Peng 1990, applied once per sequence); k = 0 or k ≥ T
    never cuts, so it is full BPTT operation for operation.  ``dh_norms[t]`` receives ‖δ_t‖ when it has
    T entries (the gradient-norm figure)."""
    F, H, C, T = dims[D_F], dims[D_H], dims[D_C], dims[D_T]
    code = dims[D_ACT]
    alpha = netf[0]
    ou, ob, ov, oc, _ = offsets(dims)
    e = np.zeros(C)
    ds = np.zeros(H)
    recurrent = np.zeros(H)
    dh = np.zeros(H)
    dh_next = np.zeros(H)
    g = np.zeros(H)
    for t in range(T - 1, -1, -1):
        if truncation > 0 and (T - 1 - t) % truncation == 0:
            for j in range(H):
                dh_next[j] = 0.0  # t + 1 starts a chunk: its error does not flow further back
        output_error(dims, o, y, m, t, e)
        state = s[t + 1]
        for j in range(H):
            ds[j] = 0.0
            recurrent[j] = 0.0
        readout_step(grad, ov, oc, H, e, state, feedback, ds)
        add_transposed(params, 0, H, H, dh_next, recurrent)  # Wᵀ δ_{t+1}, row by row
        for j in range(H):
            ds[j] = ds[j] + (1.0 - alpha) * recurrent[j]
            dh[j] = derivative(h[t, j], state[j], code) * ds[j] + alpha * dh_next[j]
        if dh_norms.shape[0] == T:
            norm = 0.0
            for j in range(H):
                norm += dh[j] * dh[j]
            dh_norms[t] = np.sqrt(norm)
        for j in range(H):
            g[j] = (1.0 - alpha) * dh[j]
            dh_next[j] = dh[j]
        # ∂W += (1−α) δ_t s_{t−1}ᵀ, ∂U += (1−α) δ_t x_tᵀ, ∂b += (1−α) δ_t: the layer kind's step
        add_step_outer(grad, 0, H, ou, F, ob, g, s[t], x[t * F:(t + 1) * F], 1.0)


@njit(cache=True)
def eprop_gradient(params, dims, netf, x, y, m, h, s, o, feedback, grad, trace):
    """e-prop (Bellec et al. 2020) for leaky rate units, online: the eligibility vector of every synapse onto a
    unit is the presynaptic trace ε_t = α ε_{t−1} + (1−α) [s_{t−1}; x_t; 1] (∂h_j^t/∂h_j^{t−1} = α,
    ∂h_j^t/∂W_ji = (1−α) s_i^{t−1}), the eligibility trace e_ji^t = G′(h_j^t) ε_i^t, the learning signal
    L_j^t = Σ_k B_kj (o_k^t − y_k^t) and ∂W_ji += L_j^t e_ji^t; the readout learns ∂V += e_t s_tᵀ.

    No quantity flows backwards in time: each step uses values of that step and traces carried forward
    (with α = 0 and B = V this is BPTT truncated to one step).  ``trace`` holds H + F + 1 values."""
    F, H, C, T = dims[D_F], dims[D_H], dims[D_C], dims[D_T]
    code = dims[D_ACT]
    alpha = netf[0]
    ou, ob, ov, oc, _ = offsets(dims)
    e = np.zeros(C)
    signal = np.zeros(H)
    g = np.zeros(H)
    for i in range(H + F + 1):
        trace[i] = 0.0
    for t in range(T):
        for i in range(H):  # ε_t = α ε_{t−1} + (1 − α) ∂h^t/∂W (presynaptic: s_{t−1}, x_t, 1)
            trace[i] = alpha * trace[i] + (1.0 - alpha) * s[t, i]
        for i in range(F):
            trace[H + i] = alpha * trace[H + i] + (1.0 - alpha) * x[t * F + i]
        trace[H + F] = alpha * trace[H + F] + (1.0 - alpha)
        output_error(dims, o, y, m, t, e)
        state = s[t + 1]
        for j in range(H):
            signal[j] = 0.0
        readout_step(grad, ov, oc, H, e, state, feedback, signal)  # and L^t = Bᵀ e_t
        for j in range(H):
            g[j] = signal[j] * derivative(h[t, j], state[j], code)  # L_j^t G′(h_j^t)
        # ∂W_ji += g_j ε_i (presynaptic traces in place of s_{t−1}, x_t and 1): the layer kind's step
        add_step_outer(grad, 0, H, ou, F, ob, g, trace[0:H], trace[H:H + F], trace[H + F])


@njit(cache=True, inline="always")
def readout_step(grad, ov, oc, H, e, state, feedback, back):
    """∂V += e_t s_tᵀ, ∂c += e_t, and back += Bᵀ e_t (outputs with e_k = 0 skipped: the steps without a loss)."""
    for k in range(e.shape[0]):
        if e[k] != 0.0:
            grad[oc + k] += e[k]
            row_add(grad, ov + k * H, e[k], state)
    add_transposed(feedback, 0, H, H, e, back)  # one row of B at a time


@njit(cache=True)
def sequence_gradient(params, dims, netf, mode, x, y, m, h, s, o, feedback, truncation, grad, trace, dh_norms):
    """Forward one sequence, then add its gradient (BPTT or e-prop) to grad; returns its loss Σ_t m_t d_t."""
    forward(params, dims, netf, x, m, h, s, o)
    loss = 0.0
    for t in range(dims[D_T]):
        if m[t] != 0.0:
            loss += m[t] * step_loss(dims, o, y, t)
    if mode == EPROP:
        eprop_gradient(params, dims, netf, x, y, m, h, s, o, feedback, grad, trace)
    else:
        bptt_gradient(params, dims, netf, x, y, m, h, s, o, feedback, truncation, grad, dh_norms)
    return loss


@njit(cache=True)
def apply_gradient(params, dims, hp, grad, opt_state, rows):
    """g ← grad / rows, clipped to ‖g‖ ≤ clip (global norm); g += 2λ w on weights (W, U, V);
    then SGD with momentum (v ← μ v + g, p ← p − η_t v) or Adam; η_t = η / (1 + decay · t).
    Returns ‖g‖ before clipping.  ``opt_state`` = [t, m (n), v (n)]."""
    n = grad.shape[0]
    _, ob, ov, oc, _ = offsets(dims)
    norm = 0.0
    for p in range(n):
        grad[p] /= rows
        norm += grad[p] * grad[p]
    norm = np.sqrt(norm)
    clip = hp[P.clip]
    if clip > 0.0 and norm > clip:
        scale = clip / norm
        for p in range(n):
            grad[p] *= scale
    l2 = hp[P.l2]
    if l2 > 0.0:
        for p in range(n):
            if p < ob or (ov <= p < oc):
                grad[p] += 2.0 * l2 * params[p]
    t = opt_state[0]
    lr = hp[P.lr] / (1.0 + hp[P.lr_decay] * t)
    opt_state[0] = t + 1.0
    if hp[P.optimizer] == ADAM:
        b1, b2, eps = hp[P.beta1], hp[P.beta2], hp[P.eps]
        c1 = 1.0 - b1 ** (t + 1.0)
        c2 = 1.0 - b2 ** (t + 1.0)
        for p in range(n):
            opt_state[1 + p] = b1 * opt_state[1 + p] + (1.0 - b1) * grad[p]
            opt_state[1 + n + p] = b2 * opt_state[1 + n + p] + (1.0 - b2) * grad[p] * grad[p]
            params[p] -= lr * (opt_state[1 + p] / c1) / (np.sqrt(opt_state[1 + n + p] / c2) + eps)
    elif hp[P.momentum] > 0.0:
        mu = hp[P.momentum]
        for p in range(n):
            opt_state[1 + p] = mu * opt_state[1 + p] + grad[p]
            params[p] -= lr * opt_state[1 + p]
    else:
        for p in range(n):
            params[p] -= lr * grad[p]
    return norm


@njit(cache=True)
def _measure(params, dims, netf, X, Y, M, EX, EY, EM, metrics, row, h, s, o):
    metrics[row, M_TRAIN_LOSS], metrics[row, M_TRAIN_ACC] = evaluate(params, dims, netf, X, Y, M, h, s, o)
    metrics[row, M_TEST_LOSS], metrics[row, M_TEST_ACC] = evaluate(params, dims, netf, EX, EY, EM, h, s, o)


@njit(cache=True)
def _stop_met(metrics, row, stop):
    """stop = [train accuracy, test accuracy, train loss] thresholds (NaN: not checked)."""
    return ((not np.isnan(stop[0]) and metrics[row, M_TRAIN_ACC] >= stop[0])
            or (not np.isnan(stop[1]) and metrics[row, M_TEST_ACC] >= stop[1])
            or (not np.isnan(stop[2]) and metrics[row, M_TRAIN_LOSS] <= stop[2]))


# Slots of a run's state, carried from one chunk of epochs to the next: sequences trained on, training
# seconds, status.
R_SAMPLES, R_WALL, R_STATUS = range(3)
RUNNING, STOPPED, DIVERGED = 0, 1, 2


@njit(cache=True, inline="always")
def _row_zero(params, dims, netf, X, Y, M, EX, EY, EM, metrics, h, s, o, stop, run, measure):
    """The row before training (epoch 0); True, with the status STOPPED, when a stop criterion is met already."""
    if measure:
        _measure(params, dims, netf, X, Y, M, EX, EY, EM, metrics, 0, h, s, o)
    metrics[0, M_SAMPLES] = 0.0
    metrics[0, M_WALL] = 0.0
    metrics[0, M_GRAD_NORM] = np.nan
    if _stop_met(metrics, 0, stop):
        run[R_STATUS] = STOPPED
        return True
    return False


@njit(cache=True, inline="always")
def _epoch_start(rng, order, shuffle):
    """Start an epoch: a fresh visiting order when shuffling (NumPy's permutation); returns the clock (ns)."""
    start = monotonic_ns()
    if shuffle:
        visiting_order(rng, order)
    return start


@njit(cache=True, inline="always")
def _minibatch_end(lo, batch, N, max_samples, samples):
    """The end of the minibatch that starts at row ``lo``, cut where a budget of ``max_samples`` sequences
    (0: none) runs out; ``samples`` were trained before it."""
    hi = min(lo + batch, N)
    if max_samples > 0:
        hi = min(hi, lo + max_samples - samples)
    return hi


@njit(cache=True, inline="always")
def _epoch_row(params, dims, netf, X, Y, M, EX, EY, EM, metrics, epoch, h, s, o, start, samples, run, measure):
    """Close an epoch whose training began at ``start`` (ns): its seconds and sequences in ``run``, its metric row."""
    run[R_WALL] += (monotonic_ns() - start) * 1e-9
    run[R_SAMPLES] = samples
    if measure:
        _measure(params, dims, netf, X, Y, M, EX, EY, EM, metrics, epoch, h, s, o)
    metrics[epoch, M_SAMPLES] = samples
    metrics[epoch, M_WALL] = run[R_WALL]


@njit(cache=True, inline="always")
def _epoch_status(params, metrics, epoch, stop, max_samples, samples, run):
    """After an epoch's row: DIVERGED for a NaN or infinite weight, STOPPED for a criterion met or the budget
    spent (either ends the run, and is set in ``run``), else RUNNING."""
    for p in range(params.shape[0]):
        if not np.isfinite(params[p]):
            run[R_STATUS] = DIVERGED
            return DIVERGED
    if _stop_met(metrics, epoch, stop) or (max_samples > 0 and samples >= max_samples):
        run[R_STATUS] = STOPPED
        return STOPPED
    return RUNNING


@njit(cache=True)
def train_run(params, dims, netf, mode, hp, feedback, opt_state, X, Y, M, EX, EY, EM, rng, first, last, batch,
              shuffle, max_samples, stop, metrics, measure, run):
    """Epochs first+1 … last of an online or minibatch run: per epoch a visiting order (NumPy's permutation),
    one update per minibatch (gradients averaged), then the loss and accuracy on the training and test sets.

    ``metrics[e]`` is the row after epoch e (row 0, measured when ``first`` is 0: before training; without
    ``measure`` — benchmarks — losses and accuracies are not measured).  ``run`` carries [samples, wall
    seconds, status] between calls, so that a run in chunks (a progress bar, Ctrl-C between chunks) gives
    the numbers of a run in one call.  The status becomes STOPPED when a criterion in ``stop`` is met or
    after ``max_samples`` training sequences (0: no budget), DIVERGED when a weight is NaN or infinite.
    Returns the last epoch run."""
    T, H, F = dims[D_T], dims[D_H], dims[D_F]
    C = dims[D_C]
    n = params.shape[0]
    h = np.zeros((T, H))
    s = np.zeros((T + 1, H))
    o = np.zeros((T, C))
    grad = np.zeros(n)
    trace = np.zeros(H + F + 1)
    no_norms = np.zeros(0)
    N = X.shape[0]
    order = np.arange(N)
    truncation = np.int64(hp[P.truncation])
    if first == 0 and _row_zero(params, dims, netf, X, Y, M, EX, EY, EM, metrics, h, s, o, stop, run, measure):
        return 0
    samples = np.int64(run[R_SAMPLES])
    for epoch in range(first + 1, last + 1):
        start = _epoch_start(rng, order, shuffle)
        norm_sum = 0.0
        updates = 0
        for lo in range(0, N, batch):
            hi = _minibatch_end(lo, batch, N, max_samples, samples)
            if hi <= lo:
                break
            for p in range(n):
                grad[p] = 0.0
            for r in range(lo, hi):
                row = order[r]
                sequence_gradient(params, dims, netf, mode, X[row], Y[row], M[row], h, s, o, feedback, truncation,
                                  grad, trace, no_norms)
            norm_sum += apply_gradient(params, dims, hp, grad, opt_state, hi - lo)
            updates += 1
            samples += hi - lo
        _epoch_row(params, dims, netf, X, Y, M, EX, EY, EM, metrics, epoch, h, s, o, start, samples, run, measure)
        metrics[epoch, M_GRAD_NORM] = norm_sum / updates if updates else np.nan
        if _epoch_status(params, metrics, epoch, stop, max_samples, samples, run) != RUNNING:
            return epoch
    return last


@njit(cache=True)
def population_fitness(population, dims, netf, X, Y, M, accuracy, out):
    """out[i] = −(mean loss per sequence) of member i (or its accuracy) on the rows of X: forward passes only."""
    T, H, C = dims[D_T], dims[D_H], dims[D_C]
    h = np.zeros((T, H))
    s = np.zeros((T + 1, H))
    o = np.zeros((T, C))
    for i in range(population.shape[0]):
        loss, acc = evaluate(population[i], dims, netf, X, Y, M, h, s, o)
        out[i] = acc if accuracy else -loss


# ------------------------------------------------------------------ evolution strategies: whole runs


@njit(cache=True, inline="always")
def _draw_noise(streams, noise):
    """noise ~ N(0, 1) from the run's streams, as rulelab.core.population.fill_noise draws it (every core for a
    large block, serially for a small one: the same numbers)."""
    if noise.size >= PARALLEL_NOISE:
        _fill_gaussian(streams, noise)
    else:
        fill_gaussian_serial(streams, noise, noise.shape[0])


def _strategy_run(ask, tell, state, hp, streams, noise, noise64, population, fitness, params, dims, netf, X, Y, M,
                  EX, EY, EM, Xb, Yb, Mb, rng, first, last, batch, shuffle, max_samples, stop, metrics, accuracy,
                  run):
    """Epochs first+1 … last of an evolution strategy on the recurrent net: per epoch a visiting order (NumPy's
    permutation), one generation per minibatch of ``batch`` sequences — noise, ask, every member's fitness on
    the minibatch (:func:`population_fitness`), tell —, then the strategy's mean copied into ``params`` and
    measured as a trained net's weights are.

    θ_{g+1} = tell(θ_g, ask(θ_g, ε_g), F(ask(θ_g, ε_g); minibatch g)).  The noise comes from the run's streams
    in the order :class:`rulelab.core.population.Search` draws it and the kernels are the strategy's own: the
    numbers of a run driven a generation at a time from Python.  ``run`` carries [samples, wall seconds,
    status] as in :func:`train_run` (STOPPED: a criterion in ``stop`` met, or ``max_samples`` sequences
    trained; DIVERGED: a NaN or infinite weight in the mean).  Returns the last epoch run."""
    T, H, C = dims[D_T], dims[D_H], dims[D_C]
    h = np.zeros((T, H))
    s = np.zeros((T + 1, H))
    o = np.zeros((T, C))
    N = X.shape[0]
    order = np.arange(N)
    if first == 0 and _row_zero(params, dims, netf, X, Y, M, EX, EY, EM, metrics, h, s, o, stop, run, True):
        return 0
    samples = np.int64(run[R_SAMPLES])
    for epoch in range(first + 1, last + 1):
        start = _epoch_start(rng, order, shuffle)
        for lo in range(0, N, batch):
            hi = _minibatch_end(lo, batch, N, max_samples, samples)
            if hi <= lo:
                break
            take = hi - lo
            for r in range(take):
                Xb[r, :] = X[order[lo + r]]
                Yb[r, :] = Y[order[lo + r]]
                Mb[r, :] = M[order[lo + r]]
            _draw_noise(streams, noise)
            _draw_noise(streams, noise64)
            ask(state, hp, noise, noise64, population)
            population_fitness(population, dims, netf, Xb[:take], Yb[:take], Mb[:take], accuracy, fitness)
            tell(state, hp, population, noise, noise64, fitness)
            samples += take
        for p in range(params.shape[0]):
            params[p] = state[S_MEAN + p]
        _epoch_row(params, dims, netf, X, Y, M, EX, EY, EM, metrics, epoch, h, s, o, start, samples, run, True)
        if _epoch_status(params, metrics, epoch, stop, max_samples, samples, run) != RUNNING:
            return epoch
    return last


def _strategy_run_signature(dtype: str) -> types.Signature:
    """Explicit, so that the run takes the strategy's kernels as first-class functions and is cached on disk."""
    f64vec, f64mat, i64vec = (types.Array(types.float64, 1, "C"), types.Array(types.float64, 2, "C"),
                              types.Array(types.int64, 1, "C"))
    generator = typeof(np.random.default_rng(0))
    return types.int64(types.FunctionType(ask_signature("float64")), types.FunctionType(tell_signature("float64")),
                       f64vec, f64vec, types.UniTuple(generator, NOISE_STREAMS), f64mat, f64mat, f64mat, f64vec,
                       f64vec, i64vec, f64vec, f64mat, f64mat, f64mat, f64mat, f64mat, f64mat, f64mat, f64mat, f64mat,
                       generator, types.int64, types.int64, types.int64, types.boolean, types.int64, f64vec, f64mat,
                       types.boolean, f64vec)


# The strategy searches in float64 (rulelab.core.population.Search), whatever the net's dtype.
strategy_run = ByDtype(_strategy_run, _strategy_run_signature, dtype_argument=9)

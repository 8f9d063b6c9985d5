"""Compiled gradient machinery shared by backprop and its biologically plausible variants.

One backward pass serves three rules, differing only in what carries the error
down to a hidden layer:

    BACKPROP     e_{l-1} = W_lᵀ δ_l             (needs weight transport)
    FEEDBACK     e_{l-1} = B_lᵀ δ_l             fixed random B_l, same shape as W_l (Lillicrap et al. 2016)
    DIRECT       e_{l-1} = D_{l-1} δ_L          fixed random D_{l-1}: hidden units × outputs (Nøkland 2016)

and then δ_{l-1} = e_{l-1} ⊙ g′(z_{l-1}).  Gradients of a minibatch are averaged,
then an optimiser (SGD with momentum, or Adam) applies them, optionally with L2
decay λ Σ W² on the weights and a learning-rate decay η_t = η / (1 + decay · t).

Every layer kind takes part (:mod:`rulelab.core.layers`): the error passes through
pooling, flatten and dropout as through their derivatives; FEEDBACK gives each layer with
weights above the first a fixed random B of its weights' shape (a random kernel for a conv
layer); DIRECT gives each hidden layer with weights a fixed random D_l (its output units ×
outputs), and layers without weights need none.

State layout (one flat array, same dtype as params):

    [0]            update counter t
    z, a, delta    one slot per unit each (forward buffers and deltas)
    grad           one slot per parameter (the minibatch gradient)
    m, v           one slot per parameter each (momentum / Adam moments)
    feedback       the fixed random matrices of FEEDBACK or DIRECT
    [last]         nets with dropout: the run's mask key (masks hash (key, t, row, unit))
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit

from rulelab.core import kernels as K
from rulelab.core.activations import times_derivative
from rulelab.core.layers import (add_layer_step, add_step_rows_kept, dense_error_through, dense_layer_forward,
                                 dense_layer_step, error_rows_through, error_through, finish_deltas,
                                 finish_deltas_rows, forward_by, forward_rows_kept, layer_forward_seeded,
                                 no_deltas_to_finish)
from rulelab.core.losses import output_delta
from rulelab.core.network import LAYER_KINDS, Network
from rulelab.core.pooling import NO_DROPOUT, dropout_seed
from rulelab.rule import Field, HyperParameters

BACKPROP = 0
FEEDBACK = 1
DIRECT = 2

SGD = 0
ADAM = 1


class GradientParams(HyperParameters):
    """Hyperparameters of every gradient-family rule (packed in this order)."""

    lr: float = Field(0.1, gt=0, description="learning rate η")
    loss: Literal["squared", "cross_entropy", "hinge", "task"] = Field(
        "task", description="loss to descend; 'task' uses the scenario's task.loss")
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="sgd (with optional momentum) or adam")
    momentum: float = Field(0.0, ge=0, lt=1, description="classical momentum μ (sgd)")
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam β1")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam β2")
    eps: float = Field(1e-8, gt=0, description="Adam ε")
    l2: float = Field(0.0, ge=0, description="L2 penalty λ Σ W² on weights (not biases)")
    lr_decay: float = Field(0.0, ge=0, description="η_t = η / (1 + lr_decay · t), t = updates so far")
    update_biases: bool = Field(True, description="false keeps biases fixed (the notes' worked example)")


# Positions in the packed hp vector, derived from GradientParams (hp[P.lr], …): never kept by hand.
P = GradientParams.slots()


@njit(cache=True, inline="always")
def feedback_start(n_units: int, n_params: int) -> int:
    """Where a gradient rule's state keeps its feedback matrices: after the update count, z, a and δ (a value
    per unit each) and three parameter-sized slots."""
    return 1 + 3 * n_units + 3 * n_params


def state_size(net: Network, mode: int) -> int:
    key = 1 if "dropout" in net.kinds else 0
    return feedback_start(net.n_units, net.n_params) + feedback_size(net, mode) + key


def _n_weights(net: Network, layer: int) -> int:
    return int(net.layout[layer, K.B_OFF] - net.layout[layer, K.W_OFF])


def feedback_size(net: Network, mode: int) -> int:
    sizes = net.sizes
    if mode == FEEDBACK:  # B_l for every layer with weights above the first
        return sum(_n_weights(net, l) for l in range(1, net.n_layers))
    if mode == DIRECT:  # D_l for every hidden layer with weights
        return sum(sizes[l + 1] * sizes[-1] for l in range(net.n_layers - 1) if net.specs[l].weighted)
    return 0


def init_feedback_state(net: Network, mode: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Zero state with the fixed random feedback matrices drawn (uniform ±scale/√fan-in), then, for a net with
    dropout, the key of its masks."""
    state = np.zeros(state_size(net, mode), dtype=np.float64)
    start = feedback_start(net.n_units, net.n_params)
    off = start
    sizes = net.sizes
    if mode == FEEDBACK:
        for l in range(1, net.n_layers):
            n = _n_weights(net, l)  # B_l has W_l's shape (n_{l+1} × n_l; a conv layer's kernels)
            if n == 0:
                continue
            state[off:off + n] = rng.uniform(-1, 1, n) * scale / np.sqrt(net.fans(l)[1])
            off += n
    elif mode == DIRECT:
        for l in range(net.n_layers - 1):
            if not net.specs[l].weighted:
                continue
            n = sizes[l + 1] * sizes[-1]  # D_l: hidden layer l's units × outputs
            state[off:off + n] = rng.uniform(-1, 1, n) * scale / np.sqrt(sizes[-1])
            off += n
    if "dropout" in net.kinds:
        state[-1] = float(rng.integers(0, 1 << 24))  # exact in float32 states too
    return state.astype(net.np_dtype)


@njit(cache=True, inline="always")
def dropout_key(layout, state):
    """The run's dropout key (the state's last slot), or NO_DROPOUT for a net without dropout."""
    for l in range(layout.shape[0]):
        if layout[l, K.KIND] == K.DROPOUT:
            return np.int64(state[state.shape[0] - 1])
    return NO_DROPOUT


@njit(cache=True, inline="always")
def n_units_params(layout):
    return K.n_units(layout), K.n_params(layout)


@njit(cache=True)
def accumulate_gradient(params, layout, act_args, state, x, t, loss_code, mode, scale):
    """grad += scale · ∂E/∂θ for one sample (error carried down per ``mode``); returns E."""
    n_units, n_params = n_units_params(layout)
    grad = state[1 + 3 * n_units:1 + 3 * n_units + n_params]
    return accumulate_into(params, layout, act_args, state, x, t, loss_code, mode, grad, scale)


@njit(cache=True, fastmath=K.FAST, inline="always")
def accumulate_into(params, layout, act_args, state, x, t, loss_code, mode, target, scale):
    """target += scale · ∂E/∂θ for one sample; ``target`` may be ``params`` itself (plain online SGD
    with scale = −η): each layer's error is sent down before that layer's weights change."""
    return accumulate_by(layer_forward_seeded, error_through, add_layer_step, finish_deltas, params, layout,
                         act_args, state, x, t, loss_code, mode, target, scale)


@njit(cache=True, fastmath=K.FAST, inline="always")
def accumulate_by(layer_forward_fn, error_fn, step_fn, finish_fn, params, layout, act_args, state, x, t, loss_code,
                  mode, target, scale):
    """:func:`accumulate_into` with each layer's forward pass, error pass, step and δ completion given: the layer
    model's (every kind), or the dense ones alone for the kernels specialised to all-dense nets."""
    n_units, n_params = n_units_params(layout)
    z_buf = state[1:1 + n_units]
    a_buf = state[1 + n_units:1 + 2 * n_units]
    d_buf = state[1 + 2 * n_units:1 + 3 * n_units]
    fb = state[feedback_start(n_units, n_params):]
    last = layout.shape[0] - 1
    key = dropout_key(layout, state)
    seed = NO_DROPOUT if key == NO_DROPOUT else dropout_seed(key, np.int64(state[0]), 0)
    out = forward_by(layer_forward_fn, params, layout, act_args, x, z_buf, a_buf, seed)
    out_code = layout[last, K.ACT]
    d_last = K.layer_buffer(d_buf, layout, last)
    output_delta(loss_code, out_code, act_args[last], K.layer_buffer(z_buf, layout, last), out, t, d_last)
    loss = K.sample_loss(loss_code, out, t, out_code)  # before any in-place update changes `out`'s inputs
    for l in range(last, -1, -1):
        inp = x if l == 0 else K.layer_buffer(a_buf, layout, l - 1)
        if l > 0:  # the error for the layer below, before this layer's weights change
            _propagate(error_fn, finish_fn, params, layout, act_args, l, mode, fb, z_buf, a_buf, d_buf, d_last, seed)
        step_fn(target, layout, l, scale, K.layer_buffer(d_buf, layout, l), inp, K.layer_buffer(a_buf, layout, l))
    return loss


@njit(cache=True, fastmath=K.FAST, inline="always")
def _propagate(error_fn, finish_fn, params, layout, act_args, l, mode, fb, z_buf, a_buf, d_buf, d_last, seed):
    """δ_{l−1} = e ⊙ g′(z_{l−1}) with e from (∂z_l/∂a_{l−1})ᵀ δ_l (Wᵀ δ_l for weights), Bᵀ δ_l or D δ_L
    (see module docstring), then completed by ``finish_fn`` (a recurrent layer's error through time)."""
    prev = l - 1
    d = K.layer_buffer(d_buf, layout, l)
    d_prev = K.layer_buffer(d_buf, layout, prev)
    z_prev = K.layer_buffer(z_buf, layout, prev)
    a_prev = K.layer_buffer(a_buf, layout, prev)
    n_in = layout[l, K.N_IN]
    code, slope = layout[prev, K.ACT], act_args[prev]
    if mode == DIRECT:
        if not K.has_parameters(layout, prev):
            return  # nothing to train there, and the layers below take their error from δ_L directly
        # D matrices are stored for hidden layers 0 … L−1 with weights, in order; find layer prev's block.
        off = 0
        for h in range(prev):
            if K.has_parameters(layout, h):
                off += layout[h, K.N_OUT] * d_last.shape[0]
        n_out_last = d_last.shape[0]
        for i in range(n_in):
            e = 0.0
            for k in range(n_out_last):
                e += fb[off + i * n_out_last + k] * d_last[k]
            d_prev[i] = e * K.derivative_scalar(code, slope, z_prev[i], a_prev[i])
        return
    inp = a_prev  # the input of layer l, and its output (pooling routes its error by them)
    out = K.layer_buffer(z_buf, layout, l)
    if mode == BACKPROP:
        error_fn(params, layout[l, K.W_OFF], layout, act_args, l, d, d_prev, inp, out, seed)
    else:
        # B matrices are stored for layers 1 … L with weights, in order; find layer l's block.
        base = 0
        for h in range(1, l):
            base += layout[h, K.B_OFF] - layout[h, K.W_OFF]
        error_fn(fb, base, layout, act_args, l, d, d_prev, inp, out, seed)
    for i in range(n_in):
        d_prev[i] *= K.derivative_scalar(code, slope, z_prev[i], a_prev[i])
    finish_fn(params, layout, act_args, prev, z_prev, a_prev, d_prev)


@njit(cache=True, inline="always")
def next_step(state, hp):
    """Count one update (state[0] = t) and return (t, η_t) with η_t = η / (1 + decay · t)."""
    t = state[0]
    state[0] = t + 1.0
    return t, hp[P.lr] / (1.0 + hp[P.lr_decay] * t)


@njit(cache=True)
def apply_gradient(params, layout, state, hp):
    """θ ← θ − η_t (grad + 2λW) with SGD (+momentum) or Adam; biases optionally frozen."""
    n_units, n_params = n_units_params(layout)
    g0 = 1 + 3 * n_units
    grad = state[g0:g0 + n_params]
    m = state[g0 + n_params:g0 + 2 * n_params]
    v = state[g0 + 2 * n_params:g0 + 3 * n_params]
    t, lr = next_step(state, hp)
    l2 = hp[P.l2]
    _fold_tied_gradients(layout, grad)
    for l in range(layout.shape[0]):
        w_off, b_off = layout[l, K.W_OFF], layout[l, K.B_OFF]
        if l2 > 0.0:
            for p in range(w_off, b_off):
                grad[p] += 2.0 * l2 * params[p]
        if hp[P.update_biases] == 0.0:
            for p in range(b_off, b_off + K.n_biases(layout, l)):
                grad[p] = 0.0
    if hp[P.optimizer] == ADAM:
        b1, b2, eps = hp[P.beta1], hp[P.beta2], hp[P.eps]
        c1 = 1.0 - b1 ** (t + 1.0)
        c2 = 1.0 - b2 ** (t + 1.0)
        for p in range(n_params):
            m[p] = b1 * m[p] + (1.0 - b1) * grad[p]
            v[p] = b2 * v[p] + (1.0 - b2) * grad[p] * grad[p]
            params[p] -= lr * (m[p] / c1) / (np.sqrt(v[p] / c2) + eps)
    elif hp[P.momentum] > 0.0:
        mu = hp[P.momentum]
        for p in range(n_params):
            m[p] = mu * m[p] - lr * grad[p]
            params[p] += m[p]
    else:
        for p in range(n_params):
            params[p] -= lr * grad[p]
    sync_tied_weights(params, layout)


@njit(cache=True)
def _fold_tied_gradients(layout, grad):
    """For a decoder tied to encoder k (W_l = W_kᵀ): ∂E/∂W_k += (∂E/∂W_l)ᵀ, and W_l gets no step of its own."""
    for l in range(layout.shape[0]):
        k = layout[l, K.TIE]
        if k < 0:
            continue
        g_dec = K.weights(grad, layout, l)
        g_enc = K.weights(grad, layout, k)
        for j in range(g_dec.shape[0]):
            for i in range(g_dec.shape[1]):
                g_enc[i, j] += g_dec[j, i]
                g_dec[j, i] = 0.0


@njit(cache=True)
def sync_tied_weights(params, layout):
    """W_l ← W_kᵀ for every tied decoder layer l."""
    for l in range(layout.shape[0]):
        k = layout[l, K.TIE]
        if k >= 0:
            K.weights(params, layout, l)[:, :] = K.weights(params, layout, k).T


@njit(cache=True)
def gradient_step(params, layout, act_args, state, hp, X, Y, lo, hi, mode):
    """One minibatch (rows lo … hi−1): average ∂E/∂θ over it, then apply; returns Σ E.

    One row (online learning) walks the units directly; several rows go through
    BLAS matrix products, where dense algebra is fastest.
    """
    n_units, n_params = n_units_params(layout)
    loss_code = np.int64(hp[P.loss])
    if _plain_sgd(layout, hp):
        # Plain SGD steps the weights during the backward pass: no gradient buffer, no second
        # pass (one row walks the units; several rows update each layer with one in-place GEMM).
        if hi - lo == 1:
            return sgd_online_step(params, layout, act_args, state, hp, X, Y, lo, mode)
        _, lr = next_step(state, hp)
        return batch_backward(params, layout, act_args, state, X[lo:hi], Y[lo:hi], loss_code, mode, params, -lr,
                              True)
    if hi - lo == 1:
        g0 = 1 + 3 * n_units
        state[g0:g0 + n_params] = 0.0
        total = accumulate_gradient(params, layout, act_args, state, X[lo], Y[lo], loss_code, mode, 1.0)
    else:  # overwrites every gradient entry
        total = batch_gradient(params, layout, act_args, state, X[lo:hi], Y[lo:hi], loss_code, mode)
    apply_gradient(params, layout, state, hp)
    return total


@njit(cache=True)
def _plain_sgd(layout, hp):
    """True when an update is just θ ← θ − η ∂E/∂θ: SGD, no momentum, no L2, biases learn, no ties."""
    if hp[P.optimizer] != SGD or hp[P.momentum] != 0.0 or hp[P.l2] != 0.0 or hp[P.update_biases] == 0.0:
        return False
    for l in range(layout.shape[0]):
        if layout[l, K.TIE] >= 0:
            return False
    return True


@njit(cache=True)
def batch_gradient(params, layout, act_args, state, Xb, Yb, loss_code, mode):
    """grad = (1/B) Σ_rows ∂E/∂θ for a minibatch (into the state's gradient slots); returns Σ E."""
    n_units, n_params = n_units_params(layout)
    grad = state[1 + 3 * n_units:1 + 3 * n_units + n_params]
    return batch_backward(params, layout, act_args, state, Xb, Yb, loss_code, mode, grad, 1.0, False)


@njit(cache=True)
def batch_backward(params, layout, act_args, state, Xb, Yb, loss_code, mode, target, alpha, accumulate):
    """target ← alpha · (1/B) Σ_rows ∂E/∂θ (+ target, if ``accumulate``) for a minibatch; returns Σ E.

    Z_l = A_{l−1} W_lᵀ + b_l and ∂E/∂W_l = D_lᵀ A_{l−1} are BLAS products.  With
    target = params, alpha = −η and accumulate, this is the SGD step itself: each weight
    matrix is updated by one in-place GEMM (W_l ← W_l − η D_lᵀ A_{l−1}) after the error
    below it has been computed with the old W_l.
    """
    n_units, n_params = n_units_params(layout)
    fb = state[feedback_start(n_units, n_params):]
    B = Xb.shape[0]
    last = layout.shape[0] - 1
    key = dropout_key(layout, state)
    step = np.int64(state[0])
    # Per-layer activations and pre-activations (a list of 2-D arrays, allocated per batch:
    # negligible next to the matrix products).
    Zs = []
    As = []
    Cols = []  # conv layers' patch matrices, built once for the forward pass and the weight step
    inp = Xb
    for l in range(last + 1):
        Z, A, col = forward_rows_kept(params, layout, act_args, l, inp, key, step)
        Zs.append(Z)
        As.append(A)
        Cols.append(col)
        inp = A
    out_code = layout[last, K.ACT]
    D = np.empty_like(Zs[last])
    total = 0.0
    for r in range(B):
        output_delta(loss_code, out_code, act_args[last], Zs[last][r], As[last][r], Yb[r], D[r])
        total += K.sample_loss(loss_code, As[last][r], Yb[r], out_code)
    # Scaling the output deltas by 1/B scales every delta below them: one multiply, not one per layer.
    D *= 1.0 / B
    D_last = D
    for l in range(last, -1, -1):
        E = D
        if l > 0:  # the error for the layer below, before this layer's weights change
            E = _error_below(params, layout, act_args, l, mode, fb, D, D_last, As[l - 1], Zs[l], key, step)
        prev_a = Xb if l == 0 else As[l - 1]
        add_step_rows_kept(target, layout, l, D, prev_a, Cols[l], alpha, accumulate, As[l])
        if l == 0:
            break
        times_derivative(layout[l - 1, K.ACT], act_args[l - 1], Zs[l - 1], As[l - 1], E)
        finish_deltas_rows(params, layout, act_args, l - 1, Zs[l - 1], As[l - 1], E)
        D = E
    return total


@njit(cache=True)
def _error_below(params, layout, act_args, l, mode, fb, D, D_last, inp, out, key, step):
    """E_{l−1} = D_l (∂z_l/∂a_{l−1}) (D_l W_l for weights), D_l B_l or D_L D_{l−1}ᵀ for a minibatch (rows are
    samples); ``inp`` and ``out`` are layer l's input and output rows (pooling routes its error by them)."""
    n_prev = layout[l - 1, K.N_OUT]
    if mode == BACKPROP:
        return error_rows_through(params, layout[l, K.W_OFF], layout, act_args, l, D, inp, out, key, step)
    if mode == FEEDBACK:
        base = 0
        for h in range(1, l):
            base += layout[h, K.B_OFF] - layout[h, K.W_OFF]
        return error_rows_through(fb, base, layout, act_args, l, D, inp, out, key, step)
    if not K.has_parameters(layout, l - 1):
        return np.zeros((D.shape[0], n_prev), dtype=D.dtype)  # nothing to train: the layers below use δ_L
    last = layout.shape[0] - 1
    n_out_last = layout[last, K.N_OUT]
    base = 0
    for h in range(l - 1):
        if K.has_parameters(layout, h):
            base += layout[h, K.N_OUT] * n_out_last
    return np.dot(D_last, fb[base:base + n_prev * n_out_last].reshape((n_prev, n_out_last)).T)


# ------------------------------------------------------------------ rule base


def loss_problem(net: Network, loss: str) -> str | None:
    """Why ``loss`` cannot train ``net``'s output, or None."""
    out = net.output_activation
    if loss == "cross_entropy" and out not in ("softmax", "sigmoid"):
        return (f"cross_entropy needs a softmax (or sigmoid) output, got '{out}'; "
                "set the output activation to softmax or use loss: squared")
    if loss == "hinge" and out == "softmax":
        return "the hinge loss works on raw scores: use a linear output instead of softmax"
    return None


@njit(cache=True, inline="always")
def sgd_online_step(params, layout, act_args, state, hp, X, Y, lo, mode):
    """θ ← θ − η_t ∂E/∂θ for one row, the weights stepped during the backward pass."""
    _, lr = next_step(state, hp)
    return accumulate_into(params, layout, act_args, state, X[lo], Y[lo], np.int64(hp[P.loss]), mode,
                           params, -lr)


@njit(cache=True, inline="always")
def sgd_online_dense_step(params, layout, act_args, state, hp, X, Y, lo, mode):
    """:func:`sgd_online_step` of a net whose layers are all dense, with the dense passes alone (the same
    operations in the same order: the same numbers).  It allocates nothing and calls nothing that does, so the
    rules' kernels around it are compiled without reference counting (see ``rulelab.core.rows.NO_REFCOUNT``)."""
    _, lr = next_step(state, hp)
    return accumulate_by(dense_layer_forward, dense_error_through, dense_layer_step, no_deltas_to_finish, params,
                         layout, act_args, state,
                         X[lo], Y[lo], np.int64(hp[P.loss]), mode, params, -lr)


class GradientRule:
    """Mixin for rules built on :func:`gradient_step`: state sizing, loss checks, kernel choice."""

    mode: int = BACKPROP
    supports_tied_weights = True
    layer_kinds = LAYER_KINDS  # the error passes through every kind (see the module docstring)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "layer_kinds" not in vars(cls) and cls.mode != BACKPROP:
            # A recurrent layer's error through time runs through its own W: feedback through a fixed random
            # matrix (B, or D from the output) has no counterpart for it, so those rules do not train one.
            cls.layer_kinds = tuple(kind for kind in LAYER_KINDS if kind != "recurrent")
    # Set by each rule: its kernel for plain online SGD on all-dense nets (see kernel()).
    sgd_online = None
    # The kernel that rulelab.core.straight writes out for tiny nets, where it replaces ``sgd_online``: set by
    # backprop and feedback alignment to their own ``sgd_online`` (a subclass with another kernel gets its own).
    straight_line_for = None

    def kernel(self, net: Network, batch_size: int):
        p = self.params
        plain = (p.optimizer == "sgd" and p.momentum == 0 and p.l2 == 0 and p.update_biases
                 and not net.tied)
        if batch_size == 1 and plain and net.dense_only and self.sgd_online is not None:
            # The common online case, without the buffered and minibatch paths or other kinds' code (a conv
            # net's online SGD goes through ``update``, which takes the same steps in the same order).
            if self.sgd_online is self.straight_line_for:
                from rulelab.core.losses import LOSS_CODES
                from rulelab.core.straight import straight_kernel

                # A tiny net's step written out (the same numbers, about twice as fast); None for other nets.
                straight = straight_kernel(net.layout, LOSS_CODES.get(p.loss, -1), self.mode, net.dtype)
                if straight is not None:
                    return straight
            return self.sgd_online
        return self.update

    def state_size(self, net: Network) -> int:
        return state_size(net, self.mode)

    def init_state(self, net: Network, rng: np.random.Generator) -> np.ndarray:
        scale = getattr(self.params, "feedback_scale", 1.0)
        return init_feedback_state(net, self.mode, rng, scale)

    def check_network(self, net: Network) -> str | None:
        problem = super().check_network(net)  # differentiable activations
        if problem is None and self.params.loss != "task":
            problem = loss_problem(net, self.params.loss)
        return problem


# ------------------------------------------------------------ input gradients


@njit(cache=True, fastmath=K.FAST)
def input_gradient(params, layout, act_args, x, t, loss_code, layer, unit, of_activation, z_buf, a_buf, d_buf,
                   gx):
    """gx = ∂f/∂x with the weights fixed, f = z_{layer,unit} (unit ≥ 0), its activation
    a_{layer,unit} = g(z) (unit ≥ 0 and ``of_activation``), or the loss E(x, t) (unit < 0).

    Returns f.  Backprop runs as usual but carries the error one step further,
    to the input: ∂f/∂x = W_0ᵀ δ_0.  For f = a the error at the unit's layer is
    g′(z_unit) (a softmax unit: ∂a_u/∂z_j = a_u (δ_uj − a_j), every unit of the layer).
    """
    last = layout.shape[0] - 1
    out = K.forward(params, layout, act_args, x, z_buf, a_buf)
    if unit < 0:
        top = last
        output_delta(loss_code, layout[last, K.ACT], act_args[last], K.layer_buffer(z_buf, layout, last),
                     out, t, K.layer_buffer(d_buf, layout, last))
        value = K.sample_loss(loss_code, out, t, layout[last, K.ACT])
    else:
        top = layer
        d = K.layer_buffer(d_buf, layout, layer)
        z = K.layer_buffer(z_buf, layout, layer)
        a = K.layer_buffer(a_buf, layout, layer)
        d[:] = 0.0
        if not of_activation:
            d[unit] = 1.0  # ∂z_unit/∂z_layer
            value = z[unit]
        elif layout[layer, K.ACT] == K.SOFTMAX:
            for j in range(d.shape[0]):
                d[j] = -a[unit] * a[j]
            d[unit] += a[unit]
            value = a[unit]
        else:
            d[unit] = K.derivative_scalar(layout[layer, K.ACT], act_args[layer], z[unit], a[unit])
            value = a[unit]
        finish_deltas(params, layout, act_args, layer, z, a, d)  # a recurrent unit's state reached through time
    for l in range(top, 0, -1):
        _propagate(error_through, finish_deltas, params, layout, act_args, l, BACKPROP, params, z_buf, a_buf, d_buf,
                   K.layer_buffer(d_buf, layout, last), NO_DROPOUT)
    error_through(params, layout[0, K.W_OFF], layout, act_args, 0, K.layer_buffer(d_buf, layout, 0), gx, x,
                  K.layer_buffer(z_buf, layout, 0), NO_DROPOUT)
    return value

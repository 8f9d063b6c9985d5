"""One layer model: each layer kind's forward and backward pass, for one sample and for a batch.

Every caller — training kernels, evaluation, population fitness, input optimisation,
figures — goes through these functions; a new layer kind adds its branch here (and its
tests) and nothing else.  Per-sample functions are inlined into their callers (a call
between compiled functions that passes arrays costs ~75 ns, more than a small layer).

For a layer l with input x (the previous layer's activations), pre-activation z and
output a = g(z):

    forward          z = W x + b (dense), a cross-correlation (conv, locally connected:
                     :mod:`rulelab.core.conv`), a pooling, flatten or dropout
                     (:mod:`rulelab.core.pooling`);  a = g(z)
    error down       e = (∂z/∂x)ᵀ d   (d = ∂E/∂z of this layer): Wᵀ d through the weights — or
                     through a fixed random B of the same shape (feedback alignment) —, the
                     pooling's routing, or the dropout mask
    add_step         θ_l += s · (∂z/∂θ_l)ᵀ d  =  W += s d xᵀ,  b += s d  (dense; kernels and
                     biases summed over positions for conv; nothing for kinds without parameters)

Batches keep samples as rows: Z = A_prev Wᵀ + b, E = D W, ∂E/∂W = Dᵀ A_prev (BLAS); a conv
layer builds its patch matrix and makes one product.  Dropout acts only in the ``seeded``
passes a gradient rule trains with; every other pass is an evaluation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.activations import activate_into, activate_rows
from rulelab.core.blas import add_product
from rulelab.core.conv import (columns, conv_add_step, conv_add_step_rows, conv_error_down, conv_error_rows,
                               conv_forward, conv_forward_rows, local_add_step, local_error_down, local_forward)
from rulelab.core.layout import (ACT, AVG_POOL, B_OFF, C_OUT, CONV, DENSE, DROPOUT, FLATTEN, KIND, L2_POOL,
                                 LAST_STEP, LOCAL, MAX_POOL, N_IN, N_OUT, RECURRENT, W_OFF, bias, kernel_size,
                                 layer_buffer, n_units, weight_rows, weights)
from rulelab.core.losses import predict_class, predict_net, sample_loss
from rulelab.core.pooling import NO_DROPOUT, dropout_apply, dropout_seed, pool_error_down, pool_forward
from rulelab.core.recurrent import (last_step_error, last_step_forward, recurrent_add_step, recurrent_error_down,
                                   recurrent_finish, recurrent_forward)
from rulelab.core.rows import FAST, row_add, row_dot

# ------------------------------------------------------------------ one sample


# The dense passes' operations, in this order, are also written out per shape by rulelab.core.straight (tiny
# nets' online backprop and feedback alignment): a change here is a change there (tests/test_straight.py compares
# the two bit for bit).
@njit(cache=True, fastmath=FAST, inline="always")
def dense_forward(params, layout, act_args, layer, x, z, a):
    """z = W x + b,  a = g(z)."""
    w_off, b_off, n_in = layout[layer, W_OFF], layout[layer, B_OFF], layout[layer, N_IN]
    for j in range(layout[layer, N_OUT]):
        z[j] = params[b_off + j] + row_dot(params, w_off + j * n_in, x)
    activate_into(layout[layer, ACT], act_args[layer], z, a)


@njit(cache=True, fastmath=FAST, inline="always")
def layer_forward_seeded(params, layout, act_args, layer, x, z, a, seed):
    """z, a of one layer for one sample, whatever its kind; dropout masks drawn from ``seed`` (NO_DROPOUT: none)."""
    if layout[layer, KIND] == DENSE:
        dense_forward(params, layout, act_args, layer, x, z, a)
    else:
        shaped_forward(params, layout, act_args, layer, x, z, a, seed)


# Not inlined: every kernel and engine that runs a forward pass would otherwise compile all the
# kinds' code again (minutes of compiling, cold); dense layers, the common case, stay inlined above.
@njit(cache=True, fastmath=FAST)
def shaped_forward(params, layout, act_args, layer, x, z, a, seed):
    """z, a of one layer of a kind other than dense, for one sample."""
    kind = layout[layer, KIND]
    if kind == CONV:
        conv_forward(params, layout, layer, x, z)
    elif kind == LOCAL:
        local_forward(params, layout, layer, x, z)
    elif kind == MAX_POOL or kind == AVG_POOL or kind == L2_POOL:
        pool_forward(kind, layout, layer, x, z)
    elif kind == FLATTEN:
        for i in range(x.shape[0]):
            z[i] = x[i]
    elif kind == DROPOUT:
        dropout_apply(layout, layer, act_args[layer], seed, x, z)
    elif kind == RECURRENT:
        recurrent_forward(params, layout, act_args, layer, x, z, a)  # each state needs the one before: z and a
        return
    elif kind == LAST_STEP:
        last_step_forward(layout, layer, x, z)
    else:
        z[:] = np.nan  # an undeclared kind never passes as an identity (check_layout refuses it first)
        a[:] = np.nan
        return
    activate_into(layout[layer, ACT], act_args[layer] if kind != DROPOUT else 0.0, z, a)


@njit(cache=True, fastmath=FAST, inline="always")
def layer_forward(params, layout, act_args, layer, x, z, a):
    """z, a of one layer for one sample, whatever its kind (evaluation: dropout is the identity)."""
    layer_forward_seeded(params, layout, act_args, layer, x, z, a, NO_DROPOUT)


@njit(cache=True, fastmath=FAST, inline="always")
def dense_layer_forward(params, layout, act_args, layer, x, z, a, seed):
    """:func:`layer_forward_seeded` of a net known to be all dense (no dropout): the kernels specialised to dense
    nets pass it to :func:`forward_by`, so that no other kind's code is compiled into them."""
    dense_forward(params, layout, act_args, layer, x, z, a)


@njit(cache=True, inline="always")
def forward_by(layer_forward_fn, params, layout, act_args, x, z_buf, a_buf, seed):
    """Full forward pass of one sample, each layer by ``layer_forward_fn``; returns the output view."""
    inp = x
    for layer in range(layout.shape[0]):
        z = layer_buffer(z_buf, layout, layer)
        a = layer_buffer(a_buf, layout, layer)
        layer_forward_fn(params, layout, act_args, layer, inp, z, a, seed)
        inp = a
    return layer_buffer(a_buf, layout, layout.shape[0] - 1)


@njit(cache=True, inline="always")
def forward_seeded(params, layout, act_args, x, z_buf, a_buf, seed):
    """Full forward pass of one sample, dropout masks drawn from ``seed``; returns the output view."""
    return forward_by(layer_forward_seeded, params, layout, act_args, x, z_buf, a_buf, seed)


@njit(cache=True, inline="always")
def forward(params, layout, act_args, x, z_buf, a_buf):
    """Full forward pass of one sample; fills every layer's z and a, returns the output view."""
    return forward_seeded(params, layout, act_args, x, z_buf, a_buf, NO_DROPOUT)


@njit(cache=True, inline="always")
def forward_to(params, layout, act_args, x, z_buf, a_buf, stop_layer):
    """Forward pass through layers 0 … stop_layer − 1; returns the input of ``stop_layer``."""
    inp = x
    for layer in range(stop_layer):
        z = layer_buffer(z_buf, layout, layer)
        a = layer_buffer(a_buf, layout, layer)
        layer_forward(params, layout, act_args, layer, inp, z, a)
        inp = a
    return inp


@njit(cache=True, inline="always")
def output_input(params, layout, act_args, x, state):
    """Input of the output layer: x itself for one layer, else the last hidden activations.

    Hidden activations are written into ``state[:2 * n_units]`` (z then a);
    rules that train only the output layer treat the hidden layers as fixed features.
    """
    out = layout.shape[0] - 1
    if out == 0:
        return x
    units = n_units(layout)
    return forward_to(params, layout, act_args, x, state[:units], state[units:2 * units], out)


@njit(cache=True, fastmath=FAST, inline="always")
def send_error_down(matrix, base, layout, layer, d, e):
    """e = Wᵀ d: the error at the input of a layer with weights, W read from ``matrix`` at ``base`` in the layer's
    own shape (the parameters for backprop, a fixed random B for feedback alignment); NaN for other kinds."""
    kind = layout[layer, KIND]
    if kind == CONV:
        conv_error_down(matrix, base, layout, layer, d, e)
        return
    if kind == LOCAL:
        local_error_down(matrix, base, layout, layer, d, e)
        return
    if kind == RECURRENT:
        recurrent_error_down(matrix, base, layout, layer, d, e)
        return
    if kind != DENSE:
        e[:] = np.nan
        return
    dense_error_down(matrix, base, layout, layer, d, e)


@njit(cache=True, fastmath=FAST, inline="always")
def dense_error_down(matrix, base, layout, layer, d, e):
    """e = Wᵀ d through a dense layer's W (or B) read from ``matrix`` at ``base``."""
    n_in = layout[layer, N_IN]
    for i in range(n_in):
        e[i] = 0.0
    for j in range(d.shape[0]):
        row_add(e, 0, d[j], matrix[base + j * n_in:base + (j + 1) * n_in])


@njit(cache=True, fastmath=FAST, inline="always")
def dense_error_through(matrix, base, layout, act_args, layer, d, e, inp, out, seed):
    """:func:`error_through` of a net known to be all dense."""
    dense_error_down(matrix, base, layout, layer, d, e)


@njit(cache=True, fastmath=FAST, inline="always")
def error_through(matrix, base, layout, act_args, layer, d, e, inp, out, seed):
    """e = (∂z/∂x)ᵀ d for any kind: through the weights (W, or B at ``base`` in ``matrix``), the pooling
    (which needs the layer's input ``inp`` and output ``out``), unchanged (flatten), or the dropout mask of ``seed``."""
    kind = layout[layer, KIND]
    if kind == MAX_POOL or kind == AVG_POOL or kind == L2_POOL or kind == FLATTEN or kind == DROPOUT \
            or kind == LAST_STEP:
        error_through_unweighted(layout, act_args, layer, d, e, inp, out, seed)
    else:
        send_error_down(matrix, base, layout, layer, d, e)


@njit(cache=True, fastmath=FAST)  # not inlined, as shaped_forward
def error_through_unweighted(layout, act_args, layer, d, e, inp, out, seed):
    """e = (∂z/∂x)ᵀ d through a pooling (with its input and output), flatten, or a dropout mask."""
    kind = layout[layer, KIND]
    if kind == MAX_POOL or kind == AVG_POOL or kind == L2_POOL:
        pool_error_down(kind, layout, layer, d, e, inp, out)
    elif kind == FLATTEN:
        for i in range(d.shape[0]):
            e[i] = d[i]
    elif kind == LAST_STEP:
        last_step_error(layout, layer, d, e)
    else:
        dropout_apply(layout, layer, act_args[layer], seed, d, e)  # the same mask again: ∂z/∂x = diag(m)


@njit(cache=True, fastmath=FAST, inline="always")
def add_step(target, layout, layer, scale, d, inp):
    """target[θ_l] += scale · ∂E/∂θ_l for one sample with ∂E/∂z_l = d: W += scale d xᵀ, b += scale d (dense;
    conv and locally connected alike, summed over positions); nothing for kinds without parameters.

    ``target`` may be the parameters themselves (plain online SGD, scale = −η)."""
    kind = layout[layer, KIND]
    if kind == CONV:
        conv_add_step(target, layout, layer, scale, d, inp)
        return
    if kind == LOCAL:
        local_add_step(target, layout, layer, scale, d, inp)
        return
    if kind == DENSE:
        dense_add_step(target, layout, layer, scale, d, inp)
    elif kind == RECURRENT:  # its step needs the layer's states: add_layer_step; never a silent no-op
        target[layout[layer, W_OFF]:layout[layer, B_OFF] + layout[layer, C_OUT]] = np.nan


@njit(cache=True, fastmath=FAST, inline="always")
def add_layer_step(target, layout, layer, scale, d, inp, out):
    """:func:`add_step` for every kind, recurrent layers included: their step needs the layer's own outputs
    ``out`` (the states s_{t−1}) as well as its input."""
    if layout[layer, KIND] == RECURRENT:
        recurrent_add_step(target, layout, layer, scale, d, inp, out)
    else:
        add_step(target, layout, layer, scale, d, inp)


@njit(cache=True, fastmath=FAST, inline="always")
def dense_layer_step(target, layout, layer, scale, d, inp, out):
    """:func:`add_layer_step` of a net known to be all dense."""
    dense_add_step(target, layout, layer, scale, d, inp)


@njit(cache=True, inline="always")
def finish_deltas(params, layout, act_args, layer, z, a, d):
    """Complete a layer's δ after the error from above has reached it: a recurrent layer adds the error that
    reaches each state through the later ones (backpropagation through time); every other kind has it all."""
    if layout[layer, KIND] == RECURRENT:
        recurrent_finish(params, layout, act_args, layer, z, a, d)


@njit(cache=True, inline="always")
def no_deltas_to_finish(params, layout, act_args, layer, z, a, d):
    """:func:`finish_deltas` of a net known to be all dense: nothing to do."""


@njit(cache=True, fastmath=FAST, inline="always")
def dense_add_step(target, layout, layer, scale, d, inp):
    """W += scale d xᵀ,  b += scale d  (a dense layer, one sample)."""
    w_off, b_off = layout[layer, W_OFF], layout[layer, B_OFF]
    n_in = layout[layer, N_IN]
    for j in range(d.shape[0]):
        row_add(target, w_off + j * n_in, scale * d[j], inp)
        target[b_off + j] += scale * d[j]


# ------------------------------------------------------------------ batches (rows are samples)


@njit(cache=True)
def _dense_forward_rows(params, layout, act_args, layer, inp):
    Z = np.dot(inp, weights(params, layout, layer).T)
    b = bias(params, layout, layer)
    for r in range(inp.shape[0]):  # in place: no second matrix for "+ b"
        for j in range(b.shape[0]):
            Z[r, j] += b[j]
    return Z


@njit(cache=True)
def forward_rows_kept(params, layout, act_args, layer, inp, key, step):
    """(Z, A, Col) of one layer for a minibatch, whatever its kind: Col is a conv layer's patch matrix (kept for
    its weight step), empty for other kinds; row r's dropout mask is seeded by (key, step, r)."""
    kind = layout[layer, KIND]
    col = np.empty((0, 0), dtype=inp.dtype)
    if kind == DENSE:
        Z = _dense_forward_rows(params, layout, act_args, layer, inp)
    elif kind == CONV:
        col = columns(layout, layer, inp)
        Z = conv_forward_rows(weight_rows(params, layout, layer), bias(params, layout, layer), layout, layer, col,
                              inp.shape[0])
    else:
        Z = np.empty((inp.shape[0], layout[layer, N_OUT]), dtype=inp.dtype)
        # A recurrent row's states (A is made from Z below); other kinds need no scratch.
        states = np.empty(layout[layer, N_OUT] if kind == RECURRENT else 0, dtype=inp.dtype)
        for r in range(inp.shape[0]):
            if kind == RECURRENT:
                recurrent_forward(params, layout, act_args, layer, inp[r], Z[r], states)
            elif kind == LAST_STEP:
                last_step_forward(layout, layer, inp[r], Z[r])
            elif kind == LOCAL:
                local_forward(params, layout, layer, inp[r], Z[r])
            elif kind == MAX_POOL or kind == AVG_POOL or kind == L2_POOL:
                pool_forward(kind, layout, layer, inp[r], Z[r])
            elif kind == FLATTEN:
                Z[r] = inp[r]
            elif kind == DROPOUT:
                seed = NO_DROPOUT if key == NO_DROPOUT else dropout_seed(key, step, r)
                dropout_apply(layout, layer, act_args[layer], seed, inp[r], Z[r])
            else:
                Z[r] = np.nan
    A = np.empty_like(Z)
    activate_rows(layout[layer, ACT], act_args[layer] if kind != DROPOUT else 0.0, Z, A)
    return Z, A, col


@njit(cache=True)
def forward_rows_seeded(params, layout, act_args, layer, inp, key, step):
    """(Z, A) of one layer for a minibatch, whatever its kind; row r's dropout mask is seeded by (key, step, r)
    (key = NO_DROPOUT: evaluation)."""
    Z, A, _ = forward_rows_kept(params, layout, act_args, layer, inp, key, step)
    return Z, A


@njit(cache=True)
def forward_rows(params, layout, act_args, layer, inp):
    """(Z, A) of one layer for a minibatch: Z = inp Wᵀ + b (one BLAS product; a conv layer's patch matrix times
    its kernels), A = g(Z).  Evaluation: dropout is the identity."""
    return forward_rows_seeded(params, layout, act_args, layer, inp, NO_DROPOUT, 0)


@njit(cache=True)
def error_rows(W, D):
    """E = D W: the error at a dense layer's input for a minibatch (W: the layer's weights or a fixed B)."""
    return np.dot(D, W)


@njit(cache=True)
def error_rows_through(matrix, base, layout, act_args, layer, D, inp, out, key, step):
    """E = D (∂z/∂x) for a minibatch, whatever the kind: weights (W, or B at ``base`` in ``matrix``), pooling
    (``inp``, ``out``: the layer's input and output rows), flatten, or the dropout masks of (key, step, row)."""
    kind = layout[layer, KIND]
    n_in, n_out = layout[layer, N_IN], layout[layer, N_OUT]
    if kind == DENSE:
        return error_rows(matrix[base:base + n_out * n_in].reshape((n_out, n_in)), D)
    if kind == CONV:
        cout, k = layout[layer, C_OUT], kernel_size(layout, layer)  # the kernels as rows (C_OUT × C_IN·KH·KW)
        return conv_error_rows(matrix[base:base + cout * k].reshape((cout, k)), layout, layer, D)
    E = np.empty((D.shape[0], n_in), dtype=D.dtype)
    for r in range(D.shape[0]):
        if kind == DROPOUT:
            seed = NO_DROPOUT if key == NO_DROPOUT else dropout_seed(key, step, r)
            error_through(matrix, base, layout, act_args, layer, D[r], E[r], inp[r], out[r], seed)
        else:
            error_through(matrix, base, layout, act_args, layer, D[r], E[r], inp[r], out[r], NO_DROPOUT)
    return E


@njit(cache=True)
def add_step_rows_kept(target, layout, layer, D, prev_a, col, alpha, accumulate, out_a):
    """:func:`add_step_rows` with a conv layer's patch matrix ``col`` kept from the forward pass (``out_a``: the
    layer's own outputs, which a recurrent layer's step reads)."""
    kind = layout[layer, KIND]
    if kind == DENSE:
        add_product(weights(target, layout, layer), D.T, prev_a, alpha, 1.0 if accumulate else 0.0)
        _add_column_sums(bias(target, layout, layer), D, alpha, accumulate)
    elif kind == CONV:
        conv_add_step_rows(weight_rows(target, layout, layer), bias(target, layout, layer), layout, layer, D,
                           col, alpha, accumulate)
    elif kind == LOCAL:
        if not accumulate:
            target[layout[layer, W_OFF]:layout[layer, B_OFF] + layout[layer, N_OUT]] = 0.0
        for r in range(D.shape[0]):
            local_add_step(target, layout, layer, alpha, D[r], prev_a[r])
    elif kind == RECURRENT:
        if not accumulate:
            target[layout[layer, W_OFF]:layout[layer, B_OFF] + layout[layer, C_OUT]] = 0.0
        for r in range(D.shape[0]):
            recurrent_add_step(target, layout, layer, alpha, D[r], prev_a[r], out_a[r])


@njit(cache=True)
def add_step_rows(target, layout, layer, D, prev_a, alpha, accumulate, out_a):
    """target[θ_l] ← alpha · ∂E/∂θ_l (+ target if ``accumulate``): W ← alpha Dᵀ A_prev (+W), b ← alpha Σ_rows D (+b).

    One in-place GEMM (a conv layer: its deltas by channel times the patch matrix): with
    target = params, alpha = −η this is the SGD step itself.  Nothing for kinds without parameters."""
    col = columns(layout, layer, prev_a) if layout[layer, KIND] == CONV else np.empty((0, 0), dtype=prev_a.dtype)
    add_step_rows_kept(target, layout, layer, D, prev_a, col, alpha, accumulate, out_a)


@njit(cache=True)
def finish_deltas_rows(params, layout, act_args, layer, Z, A, D):
    """:func:`finish_deltas` for every row of a minibatch."""
    if layout[layer, KIND] == RECURRENT:
        for r in range(D.shape[0]):
            recurrent_finish(params, layout, act_args, layer, Z[r], A[r], D[r])


@njit(cache=True)
def _add_column_sums(target, D, alpha, accumulate):
    """target ← alpha · Σ_rows D (+ target if ``accumulate``): the bias step of a minibatch.
    Rows are summed in order, a whole row at a time (contiguous, vectorisable)."""
    sums = np.zeros(D.shape[1])
    for r in range(D.shape[0]):
        for j in range(D.shape[1]):
            sums[j] += D[r, j]
    for j in range(D.shape[1]):
        target[j] = alpha * sums[j] + (target[j] if accumulate else 0.0)


# ------------------------------------------------------------------ evaluation


EVALUATION_ROWS = 256  # rows per BLAS pass when a net with conv (or other shaped) layers is evaluated


@njit(cache=True, inline="always")
def dense_only(layout):
    for layer in range(layout.shape[0]):
        if layout[layer, KIND] != DENSE:
            return False
    return True


@njit(cache=True)
def evaluate_rows(params, layout, act_args, X, T, labels, loss_code, threshold):
    """:func:`evaluate_into` in minibatches of EVALUATION_ROWS rows through the batch forward pass (conv layers
    as one BLAS product each): for shaped nets, where a sample at a time would dominate a run."""
    out_code = layout[layout.shape[0] - 1, ACT]
    total = 0.0
    correct = 0
    has_labels = labels.shape[0] == X.shape[0]
    for lo in range(0, X.shape[0], EVALUATION_ROWS):
        hi = min(lo + EVALUATION_ROWS, X.shape[0])
        A = np.ascontiguousarray(X[lo:hi])
        Z = A
        for layer in range(layout.shape[0]):
            Z, A = forward_rows(params, layout, act_args, layer, A)
        for r in range(hi - lo):
            if T.shape[1] > 0:
                total += sample_loss(loss_code, A[r], T[lo + r], out_code)
            if has_labels and predict_net(A[r], Z[r], out_code, threshold) == labels[lo + r]:
                correct += 1
    return total / max(X.shape[0], 1), correct


@njit(cache=True, inline="always")
def evaluate_into(params, layout, act_args, X, T, labels, loss_code, threshold, z_buf, a_buf):
    """(mean loss over (X, T), samples whose predicted class equals ``labels``), with caller buffers.

    ``labels`` may be empty (regression, unsupervised): the count is then 0; ``T`` with no
    columns skips the loss.  Dense nets go a sample at a time; nets with other layer kinds
    in minibatches (:func:`evaluate_rows`)."""
    if not dense_only(layout):
        return evaluate_rows(params, layout, act_args, X, T, labels, loss_code, threshold)
    return evaluate_dense(params, layout, act_args, X, T, labels, loss_code, threshold, z_buf, a_buf)


@njit(cache=True, inline="always")
def evaluate_dense(params, layout, act_args, X, T, labels, loss_code, threshold, z_buf, a_buf):
    """:func:`evaluate_into` of a net known to be all dense: a sample at a time through the dense forward pass
    alone, so that it allocates nothing and the engine of dense nets compiles without reference counting."""
    out_code = layout[layout.shape[0] - 1, ACT]
    total = 0.0
    correct = 0
    has_labels = labels.shape[0] == X.shape[0]
    for s in range(X.shape[0]):
        out = forward_by(dense_layer_forward, params, layout, act_args, X[s], z_buf, a_buf, NO_DROPOUT)
        if T.shape[1] > 0:
            total += sample_loss(loss_code, out, T[s], out_code)
        if has_labels and predict_net(out, output_z(z_buf, layout), out_code, threshold) == labels[s]:
            correct += 1
    n = max(X.shape[0], 1)
    return total / n, correct


@njit(cache=True)
def evaluate(params, layout, act_args, X, T, labels, loss_code, threshold):
    """Mean loss over (X, T) and the number of samples whose predicted class equals ``labels``."""
    units = n_units(layout)
    z_buf = np.empty(units, dtype=params.dtype)
    a_buf = np.empty(units, dtype=params.dtype)
    return evaluate_into(params, layout, act_args, X, T, labels, loss_code, threshold, z_buf, a_buf)


@njit(cache=True)
def predict_all(params, layout, act_args, X, threshold):
    """The class predicted for every row of X (decision regions, confusion tables)."""
    units = n_units(layout)
    z_buf = np.empty(units, dtype=params.dtype)
    a_buf = np.empty(units, dtype=params.dtype)
    out = np.empty(X.shape[0], dtype=np.int64)
    out_code = layout[layout.shape[0] - 1, ACT]
    for s in range(X.shape[0]):
        o = forward(params, layout, act_args, X[s], z_buf, a_buf)
        out[s] = predict_net(o, output_z(z_buf, layout), out_code, threshold)
    return out


@njit(cache=True, inline="always")
def output_z(z_buf, layout):
    """The output layer's net inputs z_L, as :func:`forward` left them in ``z_buf``."""
    return layer_buffer(z_buf, layout, layout.shape[0] - 1)



# ------------------------------------------------------------------ population members (ES fitness)
#
# Members' activations are kept units × samples, so that every product is a plain row-major
# GEMM and a softmax reduces across contiguous rows of samples.


@njit(cache=True, inline="always")
def add_bias_rows(Z, b):
    """Z[j, :] += b[j]: one unit's bias over every sample (a contiguous row)."""
    for j in range(Z.shape[0]):
        row = Z[j]
        for r in range(row.shape[0]):
            row[r] += b[j]


@njit(cache=True, inline="always")
def members_first_dense(population, layout, Xt, Z, lo, hi):
    """Z[rows of members lo … hi−1] = W_0(i) Xᵀ + b_0(i): one GEMM for the block, its weights stacked.

    The input is shared, so a block's weight matrices stacked (block·n_out × n_in) make one
    large product instead of many small ones (the input is packed once per block, not per member)."""
    n_out, n_in = layout[0, N_OUT], layout[0, N_IN]
    b_off = layout[0, B_OFF]
    stacked = np.empty(((hi - lo) * n_out, n_in), population.dtype)
    for i in range(lo, hi):
        stacked[(i - lo) * n_out:(i - lo + 1) * n_out] = weights(population[i], layout, 0)
    np.dot(stacked, Xt, Z)
    for i in range(lo, hi):
        add_bias_rows(Z[(i - lo) * n_out:(i - lo + 1) * n_out], population[i, b_off:b_off + n_out])


@njit(cache=True, inline="always")
def member_next_dense(member, layout, layer, A, Z):
    """Z = W_l A + b_l for one member (A: the layer's input, units × samples)."""
    b_off, n_out = layout[layer, B_OFF], layout[layer, N_OUT]
    np.dot(weights(member, layout, layer), A, Z)
    add_bias_rows(Z, member[b_off:b_off + n_out])

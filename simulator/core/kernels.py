"""Compiled building blocks shared by the engine and by every rule.

A network's parameters live in one flat vector ``params``.  The integer table
``layout`` (one row per layer) says where each layer's weights and biases start:

    layout[l] = (W_OFF, B_OFF, N_IN, N_OUT, ACT, A_OFF, TIE)

Layer ``l`` has a weight matrix ``W`` of shape (N_OUT, N_IN) stored row-major at
``params[W_OFF : W_OFF + N_OUT * N_IN]`` and a bias vector at
``params[B_OFF : B_OFF + N_OUT]`` (one convention everywhere: the notes' w0 on a
constant input a0 = 1 is this bias).  ``ACT`` is an activation code below, and
``A_OFF`` is where the layer's outputs start in an activation buffer of length
``sum(N_OUT)``.  ``TIE`` is −1, or the index k of an encoder layer whose
transpose this (decoder) layer uses: W_l = W_kᵀ (tied autoencoders).  ``act_args[l]`` holds the activation's parameter (the slope of
leaky ReLU).

Rule authors call these helpers from their own ``@njit`` kernels; all of them
work in place on caller-provided buffers so that a per-sample loop allocates
nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.simd import LANES, lane_sums

# Columns of the layout table.
W_OFF = 0
B_OFF = 1
N_IN = 2
N_OUT = 3
ACT = 4
A_OFF = 5
TIE = 6
LAYOUT_COLUMNS = 7

# Activation codes.
LINEAR = 0
STEP = 1
SIGN = 2
SIGMOID = 3
TANH = 4
RELU = 5
LEAKY_RELU = 6
SOFTMAX = 7

ACTIVATION_CODES = {
    "linear": LINEAR,
    "step": STEP,
    "sign": SIGN,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "softmax": SOFTMAX,
}
ACTIVATION_NAMES = {code: name for name, code in ACTIVATION_CODES.items()}
# Step and sign have no derivative (zero almost everywhere, undefined at 0).
NON_DIFFERENTIABLE = frozenset({"step", "sign"})

# Loss codes used by evaluation and by gradient rules.
SQUARED = 0
CROSS_ENTROPY = 1
HINGE = 2
LOSS_CODES = {"squared": SQUARED, "cross_entropy": CROSS_ENTROPY, "hinge": HINGE}


@njit(cache=True, inline="always")
def activate_scalar(code, slope, z):
    """a = g(z) for every elementwise activation (softmax is not elementwise)."""
    if code == STEP:
        return 1.0 if z >= 0.0 else 0.0
    if code == SIGN:
        return 1.0 if z >= 0.0 else -1.0
    if code == SIGMOID:
        # Two branches keep exp() from overflowing for large |z|.
        if z >= 0.0:
            return 1.0 / (1.0 + np.exp(-z))
        e = np.exp(z)
        return e / (1.0 + e)
    if code == TANH:
        return np.tanh(z)
    if code == RELU:
        return z if z > 0.0 else 0.0
    if code == LEAKY_RELU:
        return z if z > 0.0 else slope * z
    return z


@njit(cache=True, inline="always")
def derivative_scalar(code, slope, z, a):
    """g'(z), given z and a = g(z); 0 for step and sign (no useful derivative)."""
    if code == SIGMOID:
        return a * (1.0 - a)
    if code == TANH:
        return 1.0 - a * a
    if code == RELU:
        return 1.0 if z > 0.0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if z > 0.0 else slope
    if code == LINEAR:
        return 1.0
    return 0.0


@njit(cache=True, inline="always")
def softmax_into(z, out):
    """out_i = exp(z_i − max z) / Σ_j exp(z_j − max z)."""
    m = z[0]
    for i in range(1, z.shape[0]):
        if z[i] > m:
            m = z[i]
    total = 0.0
    for i in range(z.shape[0]):
        out[i] = np.exp(z[i] - m)
        total += out[i]
    for i in range(z.shape[0]):
        out[i] = out[i] / total


@njit(cache=True, inline="always")
def activate_into(code, slope, z, out):
    """out = g(z) for a whole layer (softmax included)."""
    if code == SOFTMAX:
        softmax_into(z, out)
        return
    for i in range(z.shape[0]):
        out[i] = activate_scalar(code, slope, z[i])


@njit(cache=True, inline="always")
def weights(params, layout, layer):
    """View of layer ``layer``'s weight matrix W, shape (n_out, n_in)."""
    off = layout[layer, W_OFF]
    n_in = layout[layer, N_IN]
    n_out = layout[layer, N_OUT]
    return params[off:off + n_out * n_in].reshape((n_out, n_in))


@njit(cache=True, inline="always")
def bias(params, layout, layer):
    """View of layer ``layer``'s bias vector b, shape (n_out,)."""
    off = layout[layer, B_OFF]
    return params[off:off + layout[layer, N_OUT]]


@njit(cache=True, inline="always")
def layer_buffer(buf, layout, layer):
    """View of layer ``layer``'s slice of an activation-sized buffer."""
    off = layout[layer, A_OFF]
    return buf[off:off + layout[layer, N_OUT]]


# Kernels are compiled with strict IEEE arithmetic (FAST is empty): with reassociation or
# contraction, LLVM's choices depend on the compilation context, and code compiled in one
# process and loaded from the cache in another then differed in the last bit (measured).
# Same scenario and seed must give the same numbers, so the dot product below fixes its own
# order instead: eight independent partial sums, run as one explicit vector
# (simulator/core/simd.py) and never reordered.  Kernels still declare fastmath=K.FAST, so a future
# deterministic flag set can be switched on in one place.
FAST: set[str] = set()


@njit(cache=True, inline="always")
def row_dot(params, offset, x):
    """Σ_i params[offset + i] · x[i]: one unit's weighted input, read straight from the flat vector.

    Eight partial sums (lane k takes i ≡ k mod 8, in ascending i), combined pairwise, then
    the tail — an order written here, not chosen by the compiler; the eight run as one
    vector (:mod:`rulelab.core.simd`).  Sums stay in the parameters' dtype: float32 nets keep
    float32 lanes.
    """
    n = x.shape[0]
    blocks = n // LANES
    s0, s1, s2, s3, s4, s5, s6, s7 = lane_sums(params, offset, x, blocks)
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for i in range(blocks * LANES, n):
        s += params[offset + i] * x[i]
    return s


@njit(cache=True, inline="always")
def row_add(params, offset, scale, x):
    """params[offset + i] += scale · x[i]: one unit's weight update, in place."""
    s = params.dtype.type(scale)  # one rounding, then the loop runs in the parameters' dtype
    w = params[offset:offset + x.shape[0]]  # indexed from 0: no wraparound check (see row_dot)
    for i in range(x.shape[0]):
        w[i] += s * x[i]


@njit(cache=True, inline="always")
def output_input(params, layout, act_args, x, state):
    """Input of the output layer: x itself for one layer, else the last hidden activations.

    Hidden activations are written into ``state[:2 * n_units]`` (z then a);
    rules that train only the output layer treat the hidden layers as fixed features.
    """
    out = layout.shape[0] - 1
    if out == 0:
        return x
    n_units = layout[out, A_OFF] + layout[out, N_OUT]
    return forward_to(params, layout, act_args, x, state[:n_units], state[n_units:2 * n_units], out)


@njit(cache=True, fastmath=FAST, inline="always")
def layer_forward(params, layout, act_args, layer, x, z, a):
    """z = W x + b,  a = g(z)  for one layer, into the buffers z and a."""
    w_off, b_off, n_in = layout[layer, W_OFF], layout[layer, B_OFF], layout[layer, N_IN]
    for j in range(layout[layer, N_OUT]):
        z[j] = params[b_off + j] + row_dot(params, w_off + j * n_in, x)
    activate_into(layout[layer, ACT], act_args[layer], z, a)


@njit(cache=True, inline="always")
def forward(params, layout, act_args, x, z_buf, a_buf):
    """Full forward pass of one sample; fills every layer's z and a, returns the output view."""
    inp = x
    for layer in range(layout.shape[0]):
        z = layer_buffer(z_buf, layout, layer)
        a = layer_buffer(a_buf, layout, layer)
        layer_forward(params, layout, act_args, layer, inp, z, a)
        inp = a
    return layer_buffer(a_buf, layout, layout.shape[0] - 1)


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
def sample_loss(loss_code, out, t, out_code):
    """E for one sample: ½ Σ (t − o)²; cross-entropy −Σ t log o (softmax) or Σ binary CE (sigmoid); hinge."""
    eps = 1e-12
    e = 0.0
    if loss_code == CROSS_ENTROPY:
        if out_code != SOFTMAX:
            # Sigmoid outputs: one binary cross-entropy per unit, summed.
            for k in range(out.shape[0]):
                o = min(max(out[k], eps), 1.0 - eps)
                e -= t[k] * np.log(o) + (1.0 - t[k]) * np.log(1.0 - o)
            return e
        for k in range(out.shape[0]):
            if t[k] > 0.0:
                e -= t[k] * np.log(max(out[k], eps))
        return e
    if loss_code == HINGE:
        # Multiclass SVM (Weston–Watkins): Σ_{k≠y} max(0, 1 + o_k − o_y).
        y = 0
        for k in range(out.shape[0]):
            if t[k] > t[y]:
                y = k
        for k in range(out.shape[0]):
            if k != y:
                m = 1.0 + out[k] - out[y]
                if m > 0.0:
                    e += m
        return e
    for k in range(out.shape[0]):
        d = t[k] - out[k]
        e += 0.5 * d * d
    return e


@njit(cache=True)
def predict_class(out, threshold):
    """Class of one output vector: argmax, or (o ≥ threshold) for a single unit."""
    if out.shape[0] == 1:
        return 1 if out[0] >= threshold else 0
    best = 0
    for k in range(1, out.shape[0]):
        if out[k] > out[best]:
            best = k
    return best


@njit(cache=True)
def evaluate(params, layout, act_args, X, T, labels, loss_code, threshold):
    """Mean loss over (X, T) and the number of samples whose predicted class equals ``labels``.

    ``labels`` may be empty (regression, unsupervised): the count is then 0.
    """
    n_units = 0
    for layer in range(layout.shape[0]):
        n_units += layout[layer, N_OUT]
    z_buf = np.empty(n_units, dtype=params.dtype)
    a_buf = np.empty(n_units, dtype=params.dtype)
    out_code = layout[layout.shape[0] - 1, ACT]
    total = 0.0
    correct = 0
    has_labels = labels.shape[0] == X.shape[0]
    for s in range(X.shape[0]):
        out = forward(params, layout, act_args, X[s], z_buf, a_buf)
        if T.shape[1] > 0:
            total += sample_loss(loss_code, out, T[s], out_code)
        if has_labels and predict_class(out, threshold) == labels[s]:
            correct += 1
    n = max(X.shape[0], 1)
    return total / n, correct

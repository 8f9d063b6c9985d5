"""Activations, declared once: their codes, g(z), g′(z), one sample and whole minibatches.

Every caller — training kernels, evaluation, population fitness, input optimisation,
figures — uses these functions.  A code not declared here is an error: the compiled
functions return NaN for it (a run with such a layer is reported as diverged, never
trained through a silent identity), and :func:`check_codes` refuses it before a run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)

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
# What step and sign give at exactly z = 0, by default, and what a scenario may choose instead
# (network.at_zero): step(0) = 1 and sign(0) = +1 as the notes' Hopfield units (+1 when net ≥ 0);
# the notes' perceptron (g = 1 only if z > 0) is step(0) = 0, notes 004's is sign(0) = −1.
AT_ZERO = {"step": 1.0, "sign": 1.0}
AT_ZERO_CHOICES = {"step": (0.0, 0.5, 1.0), "sign": (-1.0, 0.0, 1.0)}


def code_of(name: str) -> int:
    """The code of an activation name; a name not declared above is an error."""
    try:
        return ACTIVATION_CODES[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATION_CODES)}") from None


def check_codes(codes: np.ndarray) -> None:
    """Refuse any activation code that is not declared (before a run, not per sample)."""
    unknown = sorted(set(int(c) for c in codes) - set(ACTIVATION_NAMES))
    if unknown:
        raise ValueError(f"unknown activation code(s) {unknown}; known: {ACTIVATION_NAMES}")


@njit(cache=True, inline="always")
def activate_scalar(code, slope, z):
    """a = g(z) for every elementwise activation (softmax is not elementwise; an unknown code gives NaN).

    ``slope`` is the layer's one activation argument: leaky ReLU's slope, or the value step and
    sign take at exactly z = 0 (their tie convention: 1 and +1 by default, see AT_ZERO)."""
    if code == STEP:
        return 1.0 if z > 0.0 else (slope if z == 0.0 else 0.0)
    if code == SIGN:
        return 1.0 if z > 0.0 else (slope if z == 0.0 else -1.0)
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
    if code == LINEAR:
        return z
    return z * np.nan


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
    if code == STEP or code == SIGN:
        return 0.0
    return np.nan


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


@njit(cache=True)
def activate_rows(code, slope, Z, A):
    """A = g(Z) for a whole minibatch (rows are samples); the activation is chosen once, outside
    the loops, so the common cases compile to tight (vectorisable) loops."""
    Zf = Z.ravel()
    Af = A.ravel()
    if code == RELU:
        for i in range(Zf.shape[0]):
            Af[i] = Zf[i] if Zf[i] > 0.0 else 0.0
    elif code == LINEAR:
        Af[:] = Zf
    elif code == TANH:
        for i in range(Zf.shape[0]):
            Af[i] = np.tanh(Zf[i])
    else:
        for r in range(Z.shape[0]):
            activate_into(code, slope, Z[r], A[r])


@njit(cache=True)
def times_derivative(code, slope, Z, A, E):
    """E ⊙= g′(Z) for a whole minibatch (activation chosen once, outside the loops)."""
    Ef = E.ravel()
    Zf = Z.ravel()
    Af = A.ravel()
    if code == RELU:
        for i in range(Ef.shape[0]):
            Ef[i] = Ef[i] if Zf[i] > 0.0 else 0.0
    elif code == TANH:
        for i in range(Ef.shape[0]):
            Ef[i] *= 1.0 - Af[i] * Af[i]
    elif code == SIGMOID:
        for i in range(Ef.shape[0]):
            Ef[i] *= Af[i] * (1.0 - Af[i])
    elif code != LINEAR:
        for i in range(Ef.shape[0]):
            Ef[i] *= derivative_scalar(code, slope, Zf[i], Af[i])


def activate_block(code: int, slope: float, Z: np.ndarray) -> None:
    """Z ← g(Z) in place with NumPy ufuncs over a whole (members × units × samples) block.

    Compiled exp/tanh are scalar with pip's llvmlite (no SVML); NumPy's are vectorised.
    Softmax runs over the units axis (1), a reduction across contiguous rows of samples.
    """
    if code == TANH:
        np.tanh(Z, out=Z)
    elif code == SIGMOID:
        np.negative(Z, out=Z)
        np.exp(Z, out=Z)
        Z += 1.0
        np.reciprocal(Z, out=Z)
    elif code == RELU:
        np.maximum(Z, 0.0, out=Z)
    elif code == LEAKY_RELU:
        np.multiply(Z, np.where(Z > 0, 1.0, slope).astype(Z.dtype), out=Z)
    elif code == STEP:
        Z[...] = np.where(Z > 0, 1.0, np.where(Z == 0, slope, 0.0))
    elif code == SIGN:
        Z[...] = np.where(Z > 0, 1.0, np.where(Z == 0, slope, -1.0))
    elif code == SOFTMAX:
        Z -= Z.max(axis=1, keepdims=True)
        np.exp(Z, out=Z)
        Z /= Z.sum(axis=1, keepdims=True)
    elif code != LINEAR:
        raise ValueError(f"unknown activation code {code}")

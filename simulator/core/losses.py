"""Losses, their output deltas, and the class a network's output stands for."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.activations import SIGN, SOFTMAX, STEP, derivative_scalar

SQUARED = 0
CROSS_ENTROPY = 1
HINGE = 2
LOSS_CODES = {"squared": SQUARED, "cross_entropy": CROSS_ENTROPY, "hinge": HINGE}


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


@njit(cache=True, inline="always")
def output_delta(loss_code, out_code, slope, z, o, t, d):
    """δ_L = ∂E/∂z_L for E = squared ½Σ(t−o)², cross-entropy (softmax or sigmoid), or multiclass hinge."""
    n = o.shape[0]
    if loss_code == CROSS_ENTROPY:
        # Softmax + CE and sigmoid + binary CE both give δ = o − t.
        for k in range(n):
            d[k] = o[k] - t[k]
        return
    if loss_code == HINGE:
        y = 0
        for k in range(n):
            if t[k] > t[y]:
                y = k
        d[y] = 0.0
        for k in range(n):
            if k != y:
                d[k] = 1.0 if 1.0 + o[k] - o[y] > 0.0 else 0.0
                d[y] -= d[k]
        for k in range(n):
            d[k] *= derivative_scalar(out_code, slope, z[k], o[k])
        return
    if out_code == SOFTMAX:
        # Squared error through the softmax Jacobian: δ_k = o_k (e_k − Σ_j e_j o_j), e = o − t.
        dot = 0.0
        for j in range(n):
            dot += (o[j] - t[j]) * o[j]
        for k in range(n):
            d[k] = o[k] * ((o[k] - t[k]) - dot)
        return
    for k in range(n):
        d[k] = (o[k] - t[k]) * derivative_scalar(out_code, slope, z[k], o[k])


@njit(cache=True, inline="always")
def predict_class(out, threshold):
    """Class of one output vector: argmax, or (o ≥ threshold) for a single unit."""
    if out.shape[0] == 1:
        return 1 if out[0] >= threshold else 0
    best = 0
    for k in range(1, out.shape[0]):
        if out[k] > out[best]:
            best = k
    return best


@njit(cache=True, inline="always")
def scores_by_net_input(out_code, n_out):
    """Whether a class is read from the net inputs z rather than the outputs: several step/sign units."""
    return n_out > 1 and (out_code == STEP or out_code == SIGN)


@njit(cache=True, inline="always")
def predict_net(out, z, out_code, threshold):
    """Class of one sample: argmax_k z_k (lowest k on ties) for several step/sign units — one-vs-rest
    perceptrons, whose 0/1 outputs tie — else :func:`predict_class` of the outputs."""
    if scores_by_net_input(out_code, out.shape[0]):
        return predict_class(z, threshold)
    return predict_class(out, threshold)

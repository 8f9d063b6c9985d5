"""Slow, obvious NumPy references that the compiled kernels are checked against."""

from __future__ import annotations

import numpy as np


def activation(name: str, z: np.ndarray, slope: float = 0.01) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    if name == "linear":
        return z.copy()
    if name == "step":
        return (z >= 0).astype(float)
    if name == "sign":
        return np.where(z >= 0, 1.0, -1.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    raise ValueError(name)


def forward(layers: list[tuple[np.ndarray, np.ndarray, str]], x: np.ndarray,
            slope: float = 0.01) -> list[np.ndarray]:
    """Activations of every layer for one sample; layers are (W, b, activation)."""
    outs = []
    a = np.asarray(x, dtype=float)
    for W, b, act in layers:
        a = activation(act, W @ a + b, slope)
        outs.append(a)
    return outs


def perceptron_epoch(W: np.ndarray, b: np.ndarray, X: np.ndarray, T: np.ndarray, lr: float,
                     act: str = "step") -> int:
    """Online perceptron over X in order, updating W, b in place; returns the mistakes."""
    mistakes = 0
    for x, t in zip(X, T):
        for j in range(W.shape[0]):
            y = activation(act, np.array([W[j] @ x + b[j]]))[0]
            if y != t[j]:
                mistakes += 1
                W[j] += lr * (t[j] - y) * x
                b[j] += lr * (t[j] - y)
    return mistakes


def delta_batch(W: np.ndarray, b: np.ndarray, X: np.ndarray, T: np.ndarray, lr: float, act: str) -> None:
    """One minibatch step of the delta rule with the mean update over the batch."""
    dW = np.zeros_like(W)
    db = np.zeros_like(b)
    for x, t in zip(X, T):
        z = W @ x + b
        o = activation(act, z)
        if act == "softmax":
            g = np.ones_like(z)
        elif act == "sigmoid":
            g = o * (1 - o)
        elif act == "tanh":
            g = 1 - o ** 2
        else:
            g = np.ones_like(z)
        delta = (t - o) * g
        dW += np.outer(delta, x)
        db += delta
    W += lr * dW / len(X)
    b += lr * db / len(X)

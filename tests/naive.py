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


# ------------------------------------------------------------------ layers with a shape (slow loops)


def _at(x: np.ndarray, c: int, y: int, xx: int) -> float:
    """x[c, y, xx], or 0 outside the input (zero padding)."""
    _, h, w = x.shape
    return float(x[c, y, xx]) if 0 <= y < h and 0 <= xx < w else 0.0


def conv(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: tuple[int, int], pad: tuple[int, int],
         out_hw: tuple[int, int]) -> np.ndarray:
    """z[o, r, q] = b[o] + Σ_{c,i,j} W[o, c, i, j] x[c, r·s_h + i − p_h, q·s_w + j − p_w]: one loop per term."""
    c_out, c_in, kh, kw = W.shape
    z = np.zeros((c_out,) + tuple(out_hw))
    for o in range(c_out):
        for r in range(out_hw[0]):
            for q in range(out_hw[1]):
                total = b[o]
                for c in range(c_in):
                    for i in range(kh):
                        for j in range(kw):
                            total += W[o, c, i, j] * _at(x, c, r * stride[0] + i - pad[0], q * stride[1] + j - pad[1])
                z[o, r, q] = total
    return z


def local(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: tuple[int, int], pad: tuple[int, int]) -> np.ndarray:
    """Locally connected: W[o, r, q, c, i, j] and b[o, r, q], a kernel of its own at every output position."""
    c_out, h_out, w_out, c_in, kh, kw = W.shape
    z = np.zeros((c_out, h_out, w_out))
    for o in range(c_out):
        for r in range(h_out):
            for q in range(w_out):
                total = b[o, r, q]
                for c in range(c_in):
                    for i in range(kh):
                        for j in range(kw):
                            total += W[o, r, q, c, i, j] * _at(x, c, r * stride[0] + i - pad[0],
                                                               q * stride[1] + j - pad[1])
                z[o, r, q] = total
    return z


def pool(x: np.ndarray, op: str, window: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
         out_hw: tuple[int, int]) -> np.ndarray:
    """Max, mean or L2 norm over each window; padded places are not part of a window."""
    c_in, h, w = x.shape
    z = np.zeros((c_in,) + tuple(out_hw))
    for c in range(c_in):
        for r in range(out_hw[0]):
            for q in range(out_hw[1]):
                values = [x[c, y, xx] for y in range(r * stride[0] - pad[0], r * stride[0] - pad[0] + window[0])
                          for xx in range(q * stride[1] - pad[1], q * stride[1] - pad[1] + window[1])
                          if 0 <= y < h and 0 <= xx < w]
                if op == "max":
                    z[c, r, q] = max(values)
                elif op == "average":
                    z[c, r, q] = sum(values) / len(values)
                else:
                    z[c, r, q] = np.sqrt(sum(v * v for v in values))
    return z

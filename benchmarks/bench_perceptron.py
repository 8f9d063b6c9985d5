"""Perceptron epoch throughput: rulelab vs scikit-learn's Perceptron vs a NumPy per-sample loop.

Same data (20000 × 100, linearly separable with label noise so updates keep
happening), same number of epochs, no shuffling, learning rate 1, no
regularisation, float64. Run:  python benchmarks/bench_perceptron.py
"""

from __future__ import annotations

import platform
import time

import numpy as np

from rules.perceptron import Perceptron
from simulator.engine import train_epoch
from simulator.network import Network, encode_targets

N, D, EPOCHS, REPEATS = 20000, 100, 5, 5


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    w = rng.normal(size=D)
    y = (X @ w > 0).astype(np.int64)
    flip = rng.random(N) < 0.05
    y[flip] = 1 - y[flip]
    return X, y


def rulelab_seconds(X, y) -> float:
    net = Network((D, 1), ("step",))
    T = encode_targets(y, 1, "step")
    rule = Perceptron(lr=1.0)
    hp = rule.params.pack()
    best = np.inf
    for _ in range(REPEATS):
        params = np.zeros(net.n_params)
        state = rule.init_state(net, np.random.default_rng(0))
        train_epoch(Perceptron.update, params, net.layout, net.act_args, state, hp, X[:0], T[:0], 1)
        start = time.perf_counter()
        for _ in range(EPOCHS):
            train_epoch(Perceptron.update, params, net.layout, net.act_args, state, hp, X, T, 1)
        best = min(best, time.perf_counter() - start)
    return best / EPOCHS


def sklearn_seconds(X, y) -> float | None:
    try:
        from sklearn.linear_model import Perceptron as SkPerceptron
    except ImportError:
        return None
    best = np.inf
    for _ in range(REPEATS):
        clf = SkPerceptron(max_iter=EPOCHS, tol=None, shuffle=False, eta0=1.0, alpha=0.0, penalty=None)
        start = time.perf_counter()
        clf.fit(X, y)
        best = min(best, time.perf_counter() - start)
    return best / EPOCHS


def numpy_loop_seconds(X, y) -> float:
    t = y.astype(float)
    w = np.zeros(D)
    b = 0.0
    start = time.perf_counter()
    for x, target in zip(X, t):  # one epoch is enough: it is slow and steady
        out = 1.0 if x @ w + b >= 0 else 0.0
        if out != target:
            w += (target - out) * x
            b += target - out
    return time.perf_counter() - start


def main() -> None:
    X, y = make_data()
    ours = rulelab_seconds(X, y)
    sk = sklearn_seconds(X, y)
    loop = numpy_loop_seconds(X, y)
    print(f"perceptron epoch, {N} x {D}, float64, {platform.processor() or platform.machine()}")
    print(f"  rulelab       {ours * 1e3:8.2f} ms/epoch  {N / ours / 1e6:6.1f} M samples/s")
    if sk is not None:
        print(f"  scikit-learn  {sk * 1e3:8.2f} ms/epoch  ratio {sk / ours:5.2f}x (target >= 1.5x)")
    else:
        print("  scikit-learn  not installed (pip install -e '.[bench]')")
    print(f"  NumPy loop    {loop * 1e3:8.2f} ms/epoch  ratio {loop / ours:5.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()

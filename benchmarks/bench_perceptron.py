"""Perceptron epoch throughput: rulelab vs scikit-learn's Perceptron vs a NumPy per-sample loop.

Same data (20000 × 100, linearly separable with label noise so updates keep
happening), same number of epochs, no shuffling, learning rate 1, no
regularisation, float64. Run:  python benchmarks/bench_perceptron.py
"""

from __future__ import annotations

import platform
import time

import numpy as np

from rulelab.rules.perceptron import Perceptron
from rulelab.core.engine import train_epoch
from rulelab.core.network import Network, encode_targets

N, D, EPOCHS, REPEATS = 20000, 100, 5, 5


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    w = rng.normal(size=D)
    y = (X @ w > 0).astype(np.int64)
    flip = rng.random(N) < 0.05
    y[flip] = 1 - y[flip]
    return X, y


def rulelab_epochs(X, T) -> float:
    """Seconds per epoch for EPOCHS epochs of the compiled perceptron from zero weights."""
    net = Network((D, 1), ("step",))
    rule = Perceptron(lr=1.0)
    hp = rule.params.pack()
    params = np.zeros(net.n_params)
    state = rule.init_state(net, np.random.default_rng(0))
    kernel = rule.kernel(net, 1)  # what a run uses: the single-layer online kernel
    start = time.perf_counter()
    for _ in range(EPOCHS):
        train_epoch(kernel, params, net.layout, net.act_args, state, hp, X, T, 1)
    return (time.perf_counter() - start) / EPOCHS


def sklearn_epochs(X, y) -> float:
    from sklearn.linear_model import Perceptron as SkPerceptron

    clf = SkPerceptron(max_iter=EPOCHS, tol=None, shuffle=False, eta0=1.0, alpha=0.0, penalty=None)
    start = time.perf_counter()
    clf.fit(X, y)
    return (time.perf_counter() - start) / EPOCHS


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
    T = encode_targets(y, 1, "step")
    rulelab_epochs(X[:10], T[:10])  # compile (or load from the cache) before timing
    try:
        import sklearn  # noqa: F401
        have_sklearn = True
    except ImportError:
        have_sklearn = False
    # Interleave the contenders and keep each one's best: the machine is shared and noisy.
    ours, sk = [], []
    for _ in range(REPEATS):
        ours.append(rulelab_epochs(X, T))
        if have_sklearn:
            sk.append(sklearn_epochs(X, y))
    best = min(ours)
    loop = numpy_loop_seconds(X, y)
    print(f"perceptron epoch, {N} x {D}, float64, {platform.machine()}, best of {REPEATS} interleaved")
    print(f"  rulelab       {best * 1e3:8.2f} ms/epoch  {N / best / 1e6:6.1f} M samples/s")
    if have_sklearn:
        print(f"  scikit-learn  {min(sk) * 1e3:8.2f} ms/epoch  ratio {min(sk) / best:5.2f}x (target >= 1.5x)")
    else:
        print("  scikit-learn  not installed (pip install -e '.[bench]')")
    print(f"  NumPy loop    {loop * 1e3:8.2f} ms/epoch  ratio {loop / best:5.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()

"""Recurrent nets: rulelab vs PyTorch eager (CPU) vs NumPy, float64, one thread.

1. Online BPTT (batch size 1) of a 1-32-10 tanh RNN over MNIST-1D read as 40-step sequences (one value per
   step, the class at the last step): forward through 40 steps, softmax cross-entropy at the last step,
   backpropagation through time, plain SGD — one update per sequence, 4000 sequences per epoch.
2. The same net in minibatches of 64 (gradients averaged), against nn.RNN at one thread.

PyTorch runs both nn.RNN (its fused RNN op) and a manual loop of tensor ops per step; the faster one is the
reference.  Contenders run interleaved, best of REPEATS each (the machine is shared).
Run:  python benchmarks/bench_rnn.py   (PyTorch optional: pip install torch==2.13.0)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads its BLAS

import time  # noqa: E402

import numpy as np  # noqa: E402

from rulelab.data.sequences import make_sequences  # noqa: E402
from rulelab.rules.bptt import BPTT  # noqa: E402
from rulelab.tasks.sequence import RecurrentNet, train  # noqa: E402

REPEATS = 3
N_TRAIN = 4000
HIDDEN = 32
LR = 0.01


def data():
    s = make_sequences("mnist1d", {"n_samples": N_TRAIN}, np.random.default_rng(0))
    labels = s.Y.reshape(s.n, s.steps, s.classes)[:, -1].argmax(axis=1)
    return s, labels


def rulelab_epoch(s, batch: int):
    net = RecurrentNet(1, HIDDEN, 10, s.steps)
    params = net.init_params(np.random.default_rng(1))
    empty = (s.X[:0], s.Y[:0], s.M[:0])
    rule = BPTT(lr=LR)
    train(rule, net, params, (s.X[:64], s.Y[:64], s.M[:64]), empty, 1, batch, np.random.default_rng(0),
          np.random.default_rng(0), False, measure=False)  # compile (or load) outside the timing

    def run() -> float:
        start = time.perf_counter()
        train(rule, net, params, (s.X, s.Y, s.M), empty, 1, batch, np.random.default_rng(0),
              np.random.default_rng(0), False, measure=False)
        return time.perf_counter() - start

    return run


def numpy_epoch(s, labels, batch: int):
    """The same BPTT written with NumPy arrays, one sequence (or minibatch) at a time."""
    rng = np.random.default_rng(1)
    lim = 1 / np.sqrt(HIDDEN)
    W, U, b = rng.uniform(-lim, lim, (HIDDEN, HIDDEN)), rng.uniform(-lim, lim, (HIDDEN, 1)), np.zeros(HIDDEN)
    V, c = rng.uniform(-lim, lim, (10, HIDDEN)), np.zeros(10)
    X = s.X.reshape(s.n, s.steps, 1)

    def step(xb, yb):
        B, T = xb.shape[0], xb.shape[1]
        S = np.zeros((T + 1, B, HIDDEN))
        for t in range(T):
            S[t + 1] = np.tanh(S[t] @ W.T + xb[:, t] @ U.T + b)
        z = S[T] @ V.T + c
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(B), yb] -= 1.0
        e = p / B
        gV, gc = e.T @ S[T], e.sum(axis=0)
        gW, gU, gb = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
        ds = e @ V
        for t in range(T - 1, -1, -1):
            dh = ds * (1 - S[t + 1] ** 2)
            gW += dh.T @ S[t]
            gU += dh.T @ xb[:, t]
            gb += dh.sum(axis=0)
            ds = dh @ W
        for p_, g in ((W, gW), (U, gU), (b, gb), (V, gV), (c, gc)):
            p_ -= LR * g

    def run() -> float:
        start = time.perf_counter()
        for lo in range(0, s.n, batch):
            step(X[lo:lo + batch], labels[lo:lo + batch])
        return time.perf_counter() - start

    return run


def torch_epochs(s, labels, batch: int):
    """(nn.RNN, manual loop) epoch timers, or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X = torch.tensor(s.X.reshape(s.n, s.steps, 1))
    y = torch.tensor(labels)
    rnn = torch.nn.RNN(1, HIDDEN, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(HIDDEN, 10, dtype=torch.float64)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    lossf = torch.nn.CrossEntropyLoss()
    W_ih, W_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
    bias = rnn.bias_ih_l0

    def fused(xb, yb):
        out, _ = rnn(xb)
        return lossf(head(out[:, -1]), yb)

    def manual(xb, yb):
        h = torch.zeros(xb.shape[0], HIDDEN, dtype=torch.float64)
        for t in range(xb.shape[1]):
            h = torch.tanh(torch.addmm(bias, xb[:, t], W_ih.t()) + h @ W_hh.t())
        return lossf(head(h), yb)

    def timer(forward):
        def run() -> float:
            start = time.perf_counter()
            for lo in range(0, s.n, batch):
                opt.zero_grad(set_to_none=True)
                forward(X[lo:lo + batch], y[lo:lo + batch]).backward()
                opt.step()
            return time.perf_counter() - start
        return run

    return timer(fused), timer(manual)


def best(run, repeats: int = REPEATS) -> float:
    return min(run() for _ in range(repeats))


def main() -> None:
    s, labels = data()
    for batch, title in ((1, "online BPTT (batch 1)"), (64, "minibatch 64")):
        contenders = {"rulelab": rulelab_epoch(s, batch), "numpy": numpy_epoch(s, labels, batch)}
        torch_runs = torch_epochs(s, labels, batch)
        if torch_runs is not None:
            contenders["torch nn.RNN"], contenders["torch manual loop"] = torch_runs
        times = {name: float("inf") for name in contenders}
        for _ in range(REPEATS):  # interleaved: a busy moment hits every contender alike
            for name, run in contenders.items():
                times[name] = min(times[name], best(run, 1))
        print(f"\n{title}: 1-{HIDDEN}-10 tanh RNN, {s.steps} steps, {s.n} sequences per epoch, float64, 1 thread")
        for name, seconds in times.items():
            print(f"  {name:<18} {seconds:8.3f} s/epoch  ({seconds / s.n * 1e6:7.1f} µs per sequence)")
        ours = times["rulelab"]
        print(f"  rulelab vs NumPy: {times['numpy'] / ours:.1f}×")
        if torch_runs is not None:
            fastest = min(times["torch nn.RNN"], times["torch manual loop"])
            print(f"  rulelab vs PyTorch (faster of nn.RNN and the manual loop): {fastest / ours:.1f}×;"
                  f" vs nn.RNN: {times['torch nn.RNN'] / ours:.1f}×")


if __name__ == "__main__":
    main()

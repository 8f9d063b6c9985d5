"""Convolutional nets: rulelab vs PyTorch eager (CPU, oneDNN) vs a NumPy im2col loop, float32, one thread.

1. Online SGD (batch size 1) of a small CNN on the 8×8 digits: conv 8 filters 3×3 (same
   padding) + ReLU → max-pool 2 → dense 10 softmax; one epoch = 1797 single-sample updates.
2. Minibatch 64, a LeNet-like net on the digits: conv 6 × 3×3 (same) ReLU → max-pool 2 →
   conv 16 × 3×3 (same) ReLU → max-pool 2 → dense 32 ReLU → dense 10 softmax.

Every contender does the same work per update: forward, cross-entropy gradient through
every layer, plain SGD.  Contenders run interleaved, best of REPEATS each (the machine
is shared).  Run:  python benchmarks/bench_cnn.py   (PyTorch: pip install -e ".[bench]")
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads its BLAS

import time  # noqa: E402

import numpy as np  # noqa: E402

from rulelab.core.engine import train_epoch  # noqa: E402
from rulelab.core.network import LayerSpec, Network, encode_targets, init_params  # noqa: E402
from rulelab.data.datasets import load_digits_array  # noqa: E402
from rulelab.rules.backprop import Backprop  # noqa: E402

REPEATS = 5
SMALL = ([LayerSpec("conv2d", 8, (3, 3), (1, 1), "same"), LayerSpec("pool2d", 0, (2, 2), None),
          LayerSpec("flatten"), LayerSpec("dense", 10)], ("relu", "linear", "linear", "softmax"))
LENET = ([LayerSpec("conv2d", 6, (3, 3), (1, 1), "same"), LayerSpec("pool2d", 0, (2, 2), None),
          LayerSpec("conv2d", 16, (3, 3), (1, 1), "same"), LayerSpec("pool2d", 0, (2, 2), None),
          LayerSpec("flatten"), LayerSpec("dense", 32), LayerSpec("dense", 10)],
         ("relu", "linear", "relu", "linear", "linear", "relu", "softmax"))


# ---------------------------------------------------------------- rulelab

def rulelab_epoch(net: Network, X, T, batch: int, lr: float):
    rule = Backprop(lr=lr, loss="cross_entropy")
    params = init_params(net, np.random.default_rng(0))
    state = rule.init_state(net, np.random.default_rng(0))
    hp = rule.params.pack()
    kernel = rule.kernel(net, batch)  # what a run uses
    train_epoch(kernel, params, net.layout, net.act_args, state, hp, X[:2 * batch], T[:2 * batch], batch)

    def run() -> float:
        start = time.perf_counter()
        train_epoch(kernel, params, net.layout, net.act_args, state, hp, X, T, batch)
        return time.perf_counter() - start

    return run


# ---------------------------------------------------------------- PyTorch

def torch_model(lenet: bool):
    import torch

    nn = torch.nn
    if not lenet:
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def torch_epoch(lenet: bool, X, labels, batch: int, lr: float):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    model = torch_model(lenet)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(X.reshape(-1, 1, 8, 8))
    yt = torch.from_numpy(labels)

    def run() -> float:
        start = time.perf_counter()
        for lo in range(0, len(Xt), batch):
            opt.zero_grad()
            loss = loss_fn(model(Xt[lo:lo + batch]), yt[lo:lo + batch])
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    return run


# ---------------------------------------------------------------- NumPy (im2col)

class NumpyConv:
    """A 3×3 'same' conv layer on (B, C, 8·8 / 4·4 …) images by im2col: one gather, one matrix product."""

    def __init__(self, c_in: int, c_out: int, side: int, rng):
        self.c_in, self.c_out, self.side = c_in, c_out, side
        self.W = (rng.normal(size=(c_out, c_in * 9)) * np.sqrt(2 / (c_in * 9))).astype(np.float32)
        self.b = np.zeros(c_out, np.float32)
        # Gather indices into the zero-padded image (C, side+2, side+2), one row per output position.
        p = side + 2
        rows = []
        for r in range(side):
            for q in range(side):
                rows.append([c * p * p + (r + i) * p + (q + j) for c in range(c_in) for i in range(3) for j in range(3)])
        self.index = np.asarray(rows)  # (P, K)

    def columns(self, x):  # x: (B, C, side, side) → (B, P, K)
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(len(x), -1)
        return padded[:, self.index]

    def forward(self, x):
        self.cols = self.columns(x)
        return (self.cols @ self.W.T + self.b).transpose(0, 2, 1).reshape(len(x), self.c_out, self.side, self.side)

    def backward(self, d, lr, need_input_error=True):  # d: (B, C_out, side, side)
        dm = d.reshape(len(d), self.c_out, -1).transpose(0, 2, 1)  # (B, P, C_out)
        err = None
        if need_input_error:
            dcols = dm @ self.W  # (B, P, K)
            p = self.side + 2
            padded = np.zeros((len(d), self.c_in * p * p), np.float32)
            for k in range(self.index.shape[1]):
                np.add.at(padded, (slice(None), self.index[:, k]), dcols[:, :, k])
            err = padded.reshape(len(d), self.c_in, p, p)[:, :, 1:-1, 1:-1]
        self.W -= lr * np.einsum("bpo,bpk->ok", dm, self.cols)
        self.b -= lr * dm.sum(axis=(0, 1))
        return err


def maxpool(x):  # (B, C, H, W) → pooled and the mask of maxima
    B, C, H, W = x.shape
    blocks = x.reshape(B, C, H // 2, 2, W // 2, 2)
    out = blocks.max(axis=(3, 5))
    mask = blocks == out[:, :, :, None, :, None]
    return out, mask


def unpool(d, mask):
    return (mask * d[:, :, :, None, :, None]).reshape(mask.shape[0], mask.shape[1], mask.shape[2] * 2, -1)


def numpy_epoch(lenet: bool, X, T, batch: int, lr: float):
    rng = np.random.default_rng(0)
    images = X.reshape(-1, 1, 8, 8)
    conv1 = NumpyConv(1, 6 if lenet else 8, 8, rng)
    conv2 = NumpyConv(6, 16, 4, rng) if lenet else None
    dims = [64, 32, 10] if lenet else [128, 10]
    dense = [[(rng.normal(size=(o, i)) * np.sqrt(2 / i)).astype(np.float32), np.zeros(o, np.float32)]
             for i, o in zip(dims[:-1], dims[1:])]

    def run() -> float:
        start = time.perf_counter()
        for lo in range(0, len(images), batch):
            x, t = images[lo:lo + batch], T[lo:lo + batch]
            z1 = conv1.forward(x)
            h1 = np.maximum(z1, 0)
            p1, m1 = maxpool(h1)
            if lenet:
                z2 = conv2.forward(p1)
                h2 = np.maximum(z2, 0)
                p2, m2 = maxpool(h2)
                a = [p2.reshape(len(x), -1)]
            else:
                a = [p1.reshape(len(x), -1)]
            for k, (W, b) in enumerate(dense):
                z = a[-1] @ W.T + b
                a.append(np.maximum(z, 0) if k < len(dense) - 1 else z)
            e = np.exp(a[-1] - a[-1].max(axis=1, keepdims=True))
            d = (e / e.sum(axis=1, keepdims=True) - t) / len(x)
            for k in range(len(dense) - 1, -1, -1):
                W, b = dense[k]
                down = d @ W
                W -= lr * d.T @ a[k]
                b -= lr * d.sum(axis=0)
                d = down * (a[k] > 0) if k > 0 else down
            if lenet:
                d2 = unpool(d.reshape(p2.shape), m2) * (z2 > 0)
                d = conv2.backward(d2, lr)
                d1 = unpool(d, m1) * (z1 > 0)
            else:
                d1 = unpool(d.reshape(p1.shape), m1) * (z1 > 0)
            conv1.backward(d1, lr, need_input_error=False)
        return time.perf_counter() - start

    return run


def report(title: str, n: int, runs: dict, targets: dict) -> dict:
    times = {name: float("inf") for name, fn in runs.items() if fn is not None}
    for _ in range(REPEATS):
        for name in times:
            times[name] = min(times[name], runs[name]())
    ours = times["rulelab"]
    print(title)
    for name, t in times.items():
        line = f"  {name:9s} {n / t:12,.0f} samples/s"
        if name != "rulelab":
            line += f"   rulelab is {t / ours:6.2f}x" + (f"  (target >= {targets[name]}x)" if name in targets else "")
        print(line)
    for name in runs:
        if runs[name] is None:
            print(f"  {name:9s} not installed (pip install -e '.[bench]')")
    return times


def main() -> None:
    data = load_digits_array()
    X = np.ascontiguousarray(data[:, :-1] / 16.0, dtype=np.float32)
    labels = data[:, -1].astype(np.int64)
    T = encode_targets(labels, 10, "softmax").astype(np.float32)
    small = Network.from_layers((1, 8, 8), *SMALL, dtype="float32")
    report("online SGD, batch 1, conv 8×3×3 (same) relu → max-pool 2 → dense 10, digits (1797 updates), float32",
           len(X), {"rulelab": rulelab_epoch(small, X, T, 1, 0.02),
                    "pytorch": torch_epoch(False, X, labels, 1, 0.02),
                    "numpy": numpy_epoch(False, X, T, 1, 0.02)},
           {"pytorch": 30, "numpy": 5})
    lenet = Network.from_layers((1, 8, 8), *LENET, dtype="float32")
    Xr, Tr, Lr = np.tile(X, (4, 1)), np.tile(T, (4, 1)), np.tile(labels, 4)  # 7188 samples: ~112 minibatches
    report("\nminibatch 64, LeNet-like (conv 6 → pool → conv 16 → pool → 32 → 10), digits ×4, float32",
           len(Xr), {"rulelab": rulelab_epoch(lenet, Xr, Tr, 64, 0.05),
                     "pytorch": torch_epoch(True, Xr, Lr, 64, 0.05),
                     "numpy": numpy_epoch(True, Xr, Tr, 64, 0.05)},
           {"pytorch": 1.0})


if __name__ == "__main__":
    main()

"""A whole teaching workload, as a user waits for it: online backprop on XOR, 20 seeds × 3000 epochs.

2-2-1 sigmoid net, squared loss, lr 0.5, shuffled every epoch, no early stop, train loss and
accuracy after every epoch kept as tidy rows (rule, seed, epoch, metric, value) and written
to a CSV file.  Four ways of doing the same work, each a whole process, interleaved:

    rulelab      `rulelab run benchmarks/xor-workload.yaml --no-plots` (its metrics.csv has more
                 columns: also the online loss, wall time and forward passes)
    numpy        a plain NumPy script, one sample at a time
    torch        PyTorch eager, one sample at a time (one thread)
    numba        one hand-written @njit function holding every loop (its compile excluded)

Also rulelab's time inside the run (compiled chunks, evaluation and stop checks: the
`run_scenario` call) against the hand-written function's compute time.

Run:  python benchmarks/bench_xor_workload.py [--torch-seeds N]   (PyTorch from the bench extra)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "xor-workload.yaml"
SEEDS, EPOCHS = 20, 3000

COMMON = textwrap.dedent('''
    import csv, sys, time
    import numpy as np
    SEEDS, EPOCHS, LR = int(sys.argv[1]), int(sys.argv[2]), 0.5
    X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]]); Y = np.array([0., 1., 1., 0.])
    rows = []
''')

NUMPY = COMMON + textwrap.dedent('''
    def sig(z): return 1.0 / (1.0 + np.exp(-z))
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        W1, b1 = rng.uniform(-1, 1, (2, 2)), rng.uniform(-1, 1, 2)
        W2, b2 = rng.uniform(-1, 1, (1, 2)), rng.uniform(-1, 1, 1)
        for epoch in range(1, EPOCHS + 1):
            for i in rng.permutation(4):
                h = sig(W1 @ X[i] + b1); o = sig(W2 @ h + b2)
                d2 = (o - Y[i]) * o * (1 - o); d1 = (W2.T @ d2) * h * (1 - h)
                W2 -= LR * np.outer(d2, h); b2 -= LR * d2; W1 -= LR * np.outer(d1, X[i]); b1 -= LR * d1
            O = sig(W2 @ sig(W1 @ X.T + b1[:, None]) + b2[:, None])[0]
            rows.append(("backprop", seed, epoch, "train_loss", float(np.mean(0.5 * (Y - O) ** 2))))
            rows.append(("backprop", seed, epoch, "train_accuracy", float(np.mean((O >= 0.5) == (Y == 1)))))
    with open(sys.argv[3], "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
''')

TORCH = COMMON + textwrap.dedent('''
    import torch
    torch.set_num_threads(1)
    Xt, Yt = torch.tensor(X, dtype=torch.float64), torch.tensor(Y, dtype=torch.float64)
    for seed in range(SEEDS):
        torch.manual_seed(seed); rng = np.random.default_rng(seed)
        model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1),
                                    torch.nn.Sigmoid()).double()
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        for epoch in range(1, EPOCHS + 1):
            for i in rng.permutation(4):
                opt.zero_grad(); loss = 0.5 * ((model(Xt[i]) - Yt[i]) ** 2).sum(); loss.backward(); opt.step()
            with torch.no_grad():
                O = model(Xt)[:, 0]
                rows.append(("backprop", seed, epoch, "train_loss", float((0.5 * (Yt - O) ** 2).mean())))
                rows.append(("backprop", seed, epoch, "train_accuracy", float(((O >= 0.5) == (Yt == 1)).double().mean())))
    with open(sys.argv[3], "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
''')

NUMBA = COMMON + textwrap.dedent('''
    from numba import njit
    @njit(cache=True)
    def sig(z): return 1.0 / (1.0 + np.exp(-z))
    @njit(cache=True)
    def run(seeds, epochs, lr, X, Y, out):
        for seed in range(seeds):
            np.random.seed(seed)
            W1 = np.random.uniform(-1, 1, (2, 2)); b1 = np.random.uniform(-1, 1, 2)
            W2 = np.random.uniform(-1, 1, 2); b2 = np.random.uniform(-1, 1)
            h = np.empty(2)
            for epoch in range(epochs):
                for i in np.random.permutation(4):
                    for j in range(2): h[j] = sig(W1[j, 0] * X[i, 0] + W1[j, 1] * X[i, 1] + b1[j])
                    o = sig(W2[0] * h[0] + W2[1] * h[1] + b2)
                    d2 = (o - Y[i]) * o * (1 - o)
                    for j in range(2):
                        d1 = W2[j] * d2 * h[j] * (1 - h[j])
                        W2[j] -= lr * d2 * h[j]
                        W1[j, 0] -= lr * d1 * X[i, 0]; W1[j, 1] -= lr * d1 * X[i, 1]; b1[j] -= lr * d1
                    b2 -= lr * d2
                loss = 0.0; correct = 0.0
                for i in range(4):
                    for j in range(2): h[j] = sig(W1[j, 0] * X[i, 0] + W1[j, 1] * X[i, 1] + b1[j])
                    o = sig(W2[0] * h[0] + W2[1] * h[1] + b2)
                    loss += 0.5 * (Y[i] - o) ** 2; correct += (o >= 0.5) == (Y[i] == 1)
                out[seed, epoch, 0] = loss / 4; out[seed, epoch, 1] = correct / 4
    out = np.zeros((SEEDS, EPOCHS, 2))
    run(1, 1, LR, X, Y, out)  # compile (or load) before the clock starts
    start = time.perf_counter()
    run(SEEDS, EPOCHS, LR, X, Y, out)
    print("compute", time.perf_counter() - start)
    with open(sys.argv[3], "w", newline="") as fh:
        w = csv.writer(fh)
        for seed in range(SEEDS):
            for e in range(EPOCHS):
                w.writerow(("backprop", seed, e + 1, "train_loss", out[seed, e, 0]))
                w.writerow(("backprop", seed, e + 1, "train_accuracy", out[seed, e, 1]))
''')


def whole_process(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def inside_the_run() -> float:
    """rulelab's time inside the run: plans built and run for every seed (compiled chunks)."""
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    run_scenario(scenario)  # loads every kernel once
    start = time.perf_counter()
    run_scenario(scenario)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch-seeds", type=int, default=SEEDS,
                        help="seeds for PyTorch (scaled to 20; it takes about 2 minutes for 20)")
    args = parser.parse_args()
    env_python = sys.executable
    tmp = Path(tempfile.mkdtemp())
    scripts = {}
    for name, code in (("numpy", NUMPY), ("torch", TORCH), ("numba", NUMBA)):
        scripts[name] = tmp / f"xor_{name}.py"  # not numpy.py: it would shadow NumPy
        scripts[name].write_text(code)
    rulelab_cmd = [str(Path(env_python).with_name("rulelab")), "run", str(SCENARIO), "--no-plots", "--quiet",
                   "--out", str(tmp / "run")]
    whole_process(rulelab_cmd)  # warm the kernel cache
    whole_process([env_python, str(scripts["numba"]), "1", "1", str(tmp / "warm.csv")])
    times: dict[str, list[float]] = {"rulelab": [], "numpy": [], "numba": [], "torch": []}
    numba_compute = []
    for r in range(args.repeats):
        times["rulelab"].append(whole_process(rulelab_cmd)[0])
        times["numpy"].append(whole_process([env_python, str(scripts["numpy"]), str(SEEDS), str(EPOCHS),
                                             str(tmp / "numpy.csv")])[0])
        elapsed, out = whole_process([env_python, str(scripts["numba"]), str(SEEDS), str(EPOCHS),
                                      str(tmp / "numba.csv")])
        times["numba"].append(elapsed)
        numba_compute.append(float(out.split()[-1]))
        if r == 0:
            try:
                import torch  # noqa: F401
                elapsed, _ = whole_process([env_python, str(scripts["torch"]), str(args.torch_seeds), str(EPOCHS),
                                            str(tmp / "torch.csv")])
                times["torch"].append(elapsed * SEEDS / args.torch_seeds)
            except ImportError:
                pass
    inside = min(inside_the_run() for _ in range(args.repeats))
    best = {k: min(v) for k, v in times.items() if v}
    print(f"XOR workload, {SEEDS} seeds × {EPOCHS} epochs, whole processes (best of {args.repeats}):")
    for name, value in best.items():
        ratio = value / best["rulelab"]
        print(f"  {name:8s} {value:8.2f} s   {'' if name == 'rulelab' else f'rulelab is {ratio:.1f}× faster'}")
    print(f"  inside the run: rulelab {inside:.3f} s, hand-written Numba {min(numba_compute):.3f} s "
          f"({inside / min(numba_compute):.2f}×)")
    os.system(f"rm -rf {tmp}")


if __name__ == "__main__":
    main()

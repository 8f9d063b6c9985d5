"""Sweep throughput: ≥ 200 short runs with 1 and 2 local workers, and the Dask executor's overhead.

A grid of 25 learning rates × 2 rules × 4 seeds = 200 short runs (perceptron and delta
rule, 20 epochs on 200 blob samples). Each executor starts fresh (worker start-up and
loading the cached kernels included, as a user would see it).

Run:  python benchmarks/bench_sweep.py [EPOCHS]   (default 20; the Dask row needs pip install 'rulelab[dask]')
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import yaml  # noqa: F401

from rulelab.run.executors import DaskExecutor, LocalExecutor
from rulelab.run.sweep import SweepWriter, load_sweep, run_sweep

SCENARIO = {
    "name": "bench-sweep", "seed": 0, "repeats": 4,
    "task": {"kind": "classification", "dataset": {"name": "blobs", "n_samples": 200}, "test_fraction": 0.25},
    "network": {"layers": [2, 1], "activation": "sigmoid"},
    "train": {"epochs": 20},
    "rules": [{"rule": "perceptron", "lr": 0.1, "network": {"activation": "step"}}, {"rule": "delta", "lr": 0.1}],
    # 25 × 25 points, but each rule only runs at its own 25 learning rates: 2 × 25 × 4 seeds = 200 runs.
    "sweep": {"grid": {"rules[0].lr": np.round(np.geomspace(0.001, 1, 25), 5).tolist(),
                       "rules[1].lr": np.round(np.geomspace(0.001, 1, 25), 5).tolist()}},
}


def timed(make_executor, sweep, root: Path, name: str) -> tuple[float, int]:
    writer = SweepWriter(root / name, sweep)
    start = time.perf_counter()
    executor = make_executor()
    done = []
    run_sweep(sweep, writer, executor, lambda point, record: done.append(record.status))
    return time.perf_counter() - start, len(done)


def main(epochs: int = 20) -> None:
    SCENARIO["train"]["epochs"] = epochs
    root = Path(tempfile.mkdtemp())
    path = root / "sweep.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    sweep = load_sweep(path)
    n = len(sweep.tasks())
    timed(lambda: LocalExecutor(1), sweep, root, "warm")  # fill the kernel cache once
    results = {}
    for name, make in (("local, 1 worker", lambda: LocalExecutor(1)), ("local, 2 workers", lambda: LocalExecutor(2))):
        results[name] = timed(make, sweep, root, name.replace(" ", ""))
    try:
        results["dask LocalCluster, 2 workers"] = timed(lambda: DaskExecutor(local_workers=2), sweep, root, "dask")
    except Exception as exc:  # noqa: BLE001 — optional extra
        print(f"dask: skipped ({exc})")
    print(f"sweep of {n} runs (perceptron and delta rule, {epochs} epochs, 150 training samples)")
    for name, (seconds, count) in results.items():
        print(f"  {name:30s} {count / seconds:7.1f} runs/s  ({seconds:.2f} s, {count} runs)")
    one, two = results["local, 1 worker"][0], results["local, 2 workers"][0]
    print(f"  scaling 1 → 2 local workers: {one / two:.2f}x")
    if "dask LocalCluster, 2 workers" in results:
        print(f"  Dask overhead vs local (2 workers): {results['dask LocalCluster, 2 workers'][0] / two:.2f}x the time")


if __name__ == "__main__":
    import sys

    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)

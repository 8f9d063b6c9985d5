"""The recurrent layer kind (layer table) against the sequence task's own recurrent model, on the same work.

A 1-32-10 tanh Elman net over 40 steps (MNIST-1D's shape), classified at the last step with softmax and
cross-entropy: one forward pass and backpropagation through time per sequence, gradients summed, 200
sequences, best of 7 interleaved.  The layer kind runs through the one layer model
(``rulelab.core.gradient.accumulate_into`` over recurrent → last_step → dense); the sequence model through
``rulelab.tasks.recurrent.forward`` and ``bptt_gradient``.  Both are rulelab; the ratio says what the layer
kind's generic loops cost.

Run:  python benchmarks/bench_recurrent_layer.py
"""

from __future__ import annotations

import time

import numpy as np

from rulelab.core import gradient as G
from rulelab.core import kernels as K
from rulelab.core.losses import LOSS_CODES
from rulelab.core.network import LayerSpec, Network, init_params
from rulelab.tasks import recurrent as R

F, H, C, T, ROWS = 1, 32, 10, 40, 200


def main() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, F * T))  # F = 1: channel-major and step-major rows are the same
    labels = rng.integers(0, C, ROWS)
    net = Network.from_layers((F, T), [LayerSpec("recurrent", H), LayerSpec("last_step"), LayerSpec("dense", C)],
                              ["tanh", "linear", "softmax"])
    params = init_params(net, rng, "uniform", 0.2)
    units = int(K.n_units(net.layout))
    state = np.zeros(1 + 3 * units + 3 * net.n_params)
    grad = np.zeros(net.n_params)
    targets = np.eye(C)[labels]
    cross_entropy = LOSS_CODES["cross_entropy"]

    def layer_kind() -> None:
        for r in range(ROWS):
            G.accumulate_into(params, net.layout, net.act_args, state, X[r], targets[r], cross_entropy, G.BACKPROP,
                              grad, 1.0)

    dims = np.array([F, H, C, T, R.TANH, R.SOFTMAX_CE], dtype=np.int64)
    netf = np.zeros(1)
    flat = rng.uniform(-0.2, 0.2, H * H + H * F + H + C * H + C)
    readout = flat[H * H + H * F + H:H * H + H * F + H + C * H].copy()  # B = V: backpropagation
    mask = np.zeros(T)
    mask[-1] = 1.0
    Y = np.zeros((ROWS, T * C))
    Y[np.arange(ROWS), (T - 1) * C + labels] = 1.0
    h, s, o = np.zeros((T, H)), np.zeros((T + 1, H)), np.zeros((T, C))
    sequence_grad = np.zeros_like(flat)

    def sequence_model() -> None:
        for r in range(ROWS):
            R.forward(flat, dims, netf, X[r], mask, h, s, o)
            R.bptt_gradient(flat, dims, netf, X[r], Y[r], mask, h, s, o, readout, 0, sequence_grad, np.zeros(0))

    layer_kind()
    sequence_model()  # compile (or load) both before timing
    times: dict[str, list[float]] = {"layer kind": [], "sequence model": []}
    for _ in range(7):
        for name, run in (("layer kind", layer_kind), ("sequence model", sequence_model)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    best = {name: min(values) / ROWS * 1e6 for name, values in times.items()}
    print(f"forward + BPTT, {F}-{H}-{C} tanh Elman net over {T} steps, {ROWS} sequences (best of 7 interleaved):")
    for name, micros in best.items():
        print(f"  {name:15s} {micros:7.1f} µs/sequence")
    print(f"  the layer kind takes {best['layer kind'] / best['sequence model']:.2f}x the sequence model's time")


if __name__ == "__main__":
    main()

"""OpenAI-ES generations per second over whole runs: rulelab vs a vectorised NumPy implementation vs evosax.

Population 256 (mirrored), σ = 0.1, Adam (lr 0.01), fitness = −cross-entropy on a 256-sample
minibatch of the digits, float32, two nets:

- ``mlp``: 64-32-10 tanh/softmax (2410 parameters);
- ``cnn``: conv 8 filters 3×3 (same) ReLU → max-pool 2 → dense 10 softmax (1370 parameters),
  the small CNN of issue 13 (evosax only: no NumPy contender for conv nets).

rulelab runs as a user runs it: a scenario through :func:`rulelab.run.runner.run_scenario` (the
compiled engine owns the generations; the figure includes building the run, per-epoch
evaluation and the record), on 1280 training rows = five minibatches of 256 per epoch.  evosax
jits ask, fitness (vmapped over members) and tell; NumPy batches the members' matmuls.  Every
contender uses every core.  Contenders run interleaved, best of REPEATS.

Run:  python benchmarks/bench_es.py   (evosax: pip install -e ".[bench]")
"""

from __future__ import annotations

import os
import time

import numpy as np

from rulelab.core.network import encode_targets
from rulelab.core.population import centered_ranks
from rulelab.data.datasets import load_digits_array

POP, SIGMA, LR, BATCH, GENERATIONS, REPEATS = 256, 0.1, 0.01, 256, 30, 3
EPOCHS = GENERATIONS // 5  # 1280 training rows / 256 per generation
NETS = {
    "mlp": {"layers": [64, 32, 10], "activation": "tanh", "output_activation": "softmax", "dtype": "float32"},
    "cnn": {"layers": [[1, 8, 8], {"kind": "conv2d", "channels": 8, "kernel": 3, "padding": "same"},
                       {"kind": "pool2d", "size": 2}, {"kind": "flatten"}, 10],
            "activation": "relu", "output_activation": "softmax", "dtype": "float32"},
}


def data():
    table = load_digits_array()
    rng = np.random.default_rng(0)
    rows = rng.choice(len(table), BATCH, replace=False)
    X = np.ascontiguousarray(table[rows, :-1] / 16.0, dtype=np.float32)
    labels = table[rows, -1].astype(np.int64)
    return X, encode_targets(labels, 10, "softmax").astype(np.float32), labels


def rulelab_generations(net: str):
    """A whole run of the compiled engine, timed around run_scenario (warm kernel cache)."""
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import validate_scenario

    raw = {"name": "bench-es", "seed": 0, "repeats": 1,
           "task": {"kind": "classification", "dataset": "digits", "test_fraction": 517 / 1797},
           "network": NETS[net], "train": {"epochs": EPOCHS}, "metrics": ["train_loss"],
           "rules": [{"rule": "openai_es", "population": POP, "sigma": SIGMA, "lr": LR, "optimizer": "adam",
                      "fitness_batch": BATCH}]}
    scenario = validate_scenario(raw)
    run_scenario(scenario)  # compile or load from the cache

    def run() -> float:
        start = time.perf_counter()
        (record,) = run_scenario(scenario)
        elapsed = time.perf_counter() - start
        generations = [v for _, m, v in record.all_rows() if m == "generations"][-1]
        assert generations == GENERATIONS, generations  # five full minibatches an epoch
        return GENERATIONS / elapsed

    return run


def numpy_generations(theta, X, T):
    """The same algorithm written the way one would in NumPy: batched matmuls over the population."""
    rng = np.random.default_rng(0)
    mean = theta.astype(np.float64)
    m = np.zeros_like(mean)
    v = np.zeros_like(mean)
    t = 0

    def fitness_of(pop):
        P = len(pop)
        W1 = pop[:, :2048].reshape(P, 32, 64)
        b1 = pop[:, 2048:2080]
        W2 = pop[:, 2080:2400].reshape(P, 10, 32)
        b2 = pop[:, 2400:2410]
        a1 = np.tanh(np.matmul(X, W1.transpose(0, 2, 1)) + b1[:, None, :])
        z2 = np.matmul(a1, W2.transpose(0, 2, 1)) + b2[:, None, :]
        z2 -= z2.max(axis=2, keepdims=True)
        logp = z2 - np.log(np.exp(z2).sum(axis=2, keepdims=True))
        return (logp * T).sum(axis=2).mean(axis=1)

    def generation():
        nonlocal mean, m, v, t
        half = rng.standard_normal((POP // 2, mean.size))
        eps = np.concatenate([half, -half])
        pop = (mean + SIGMA * eps).astype(np.float32)
        g = centered_ranks(fitness_of(pop).astype(np.float64)) @ eps / (POP * SIGMA)
        t += 1
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mean = mean + LR * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)

    generation()

    def run() -> float:
        start = time.perf_counter()
        for _ in range(GENERATIONS):
            generation()
        return GENERATIONS / (time.perf_counter() - start)

    return run


def _mlp_loss(jax, jnp, Xj, Tj):
    def loss(flat):  # evosax minimises: fitness = cross-entropy
        W1 = flat[:2048].reshape(32, 64)
        W2 = flat[2080:2400].reshape(10, 32)
        a1 = jnp.tanh(Xj @ W1.T + flat[2048:2080])
        z2 = a1 @ W2.T + flat[2400:2410]
        return -(jax.nn.log_softmax(z2) * Tj).sum(axis=1).mean()
    return loss, 2410


def _cnn_loss(jax, jnp, Xj, Tj):
    images = Xj.reshape(-1, 1, 8, 8)

    def loss(flat):
        W = flat[:72].reshape(8, 1, 3, 3)
        z = jax.lax.conv_general_dilated(images, W, (1, 1), "SAME") + flat[72:80][None, :, None, None]
        a = jax.nn.relu(z)
        pooled = jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        W2 = flat[80:1360].reshape(10, 128)
        z2 = pooled.reshape(len(images), 128) @ W2.T + flat[1360:1370]
        return -(jax.nn.log_softmax(z2) * Tj).sum(axis=1).mean()
    return loss, 1370


def evosax_generations(net: str, X, T):
    """evosax's Open_ES (JAX, CPU): jitted ask, fitness (vmapped over members) and tell."""
    try:
        import jax
        import jax.numpy as jnp
        import optax
        from evosax.algorithms import Open_ES
    except ImportError:
        return None
    Xj, Tj = jnp.asarray(X), jnp.asarray(T)
    loss, n = (_mlp_loss if net == "mlp" else _cnn_loss)(jax, jnp, Xj, Tj)
    theta = np.random.default_rng(0).normal(0, 0.1, n).astype(np.float32)
    es = Open_ES(population_size=POP, solution=jnp.zeros(n, jnp.float32), optimizer=optax.adam(LR),
                 std_schedule=optax.constant_schedule(SIGMA))
    params = es.default_params
    fitness_fn = jax.jit(jax.vmap(loss))
    key = jax.random.key(0)
    state = es.init(key, jnp.asarray(theta), params)

    @jax.jit
    def generation(state, key):
        key_ask, key_tell = jax.random.split(key)
        population, state = es.ask(key_ask, state, params)
        state, _ = es.tell(key_tell, population, fitness_fn(population), state, params)
        return state

    state = generation(state, key)
    jax.block_until_ready(state.mean)

    def run() -> float:
        nonlocal state, key
        start = time.perf_counter()
        for _ in range(GENERATIONS):
            key, sub = jax.random.split(key)
            state = generation(state, sub)
        jax.block_until_ready(state.mean)
        return GENERATIONS / (time.perf_counter() - start)

    return run


def main() -> None:
    X, T, _ = data()
    for net in NETS:
        theta = np.random.default_rng(0).normal(0, 0.1, 2410)
        runs = {"rulelab": rulelab_generations(net),
                "numpy": numpy_generations(theta, X, T) if net == "mlp" else None,
                "evosax": evosax_generations(net, X, T)}
        runs = {name: run for name, run in runs.items() if run is not None}
        best = {name: 0.0 for name in runs}
        for _ in range(REPEATS):  # interleaved, best of: the machine is shared and noisy
            for name, run in runs.items():
                best[name] = max(best[name], run())
        print(f"OpenAI-ES over the {net}, population {POP}, sigma {SIGMA}, Adam, fitness on {BATCH} digits, "
              f"{os.cpu_count()} cores, whole runs of {GENERATIONS} generations")
        print(f"  rulelab  {best['rulelab']:7.1f} generations/s")
        if "numpy" in best:
            print(f"  numpy    {best['numpy']:7.1f} generations/s   rulelab is "
                  f"{best['rulelab'] / best['numpy']:.2f}x (target >= 1.5x)")
        if "evosax" in best:
            print(f"  evosax   {best['evosax']:7.1f} generations/s   rulelab is "
                  f"{best['rulelab'] / best['evosax']:.2f}x (target >= 1x; the MLP >= 1.5x, issue 12)")
        else:
            print("  evosax   not installed (pip install -e '.[bench]')")


if __name__ == "__main__":
    main()

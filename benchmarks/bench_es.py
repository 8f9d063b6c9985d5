"""OpenAI-ES generations per second: rulelab vs a vectorised NumPy implementation (vs evosax if installed).

Population 256 (mirrored), σ = 0.1, Adam, the 64-32-10 tanh/softmax net, fitness
= −cross-entropy on a fixed 256-sample minibatch of the digits, float32. Both
sides use every core: rulelab evaluates members in parallel (one BLAS thread
each); NumPy's batched matmuls use a multi-threaded BLAS.

Run:  python benchmarks/bench_es.py
"""

from __future__ import annotations

import os
import time

import numpy as np

from rulelab.rules.openai_es import OpenAIES
from rulelab.core import kernels as K
from rulelab.data.datasets import load_digits_array
from rulelab.core.network import Network, encode_targets, init_params
from rulelab.core.population import FITNESS_LOSS, centered_ranks, population_fitness
from rulelab.run.runner import single_threaded_blas

POP, SIGMA, LR, BATCH, GENERATIONS, REPEATS = 256, 0.1, 0.01, 256, 30, 3


def data():
    table = load_digits_array()
    rng = np.random.default_rng(0)
    rows = rng.choice(len(table), BATCH, replace=False)
    X = np.ascontiguousarray(table[rows, :-1] / 16.0, dtype=np.float32)
    labels = table[rows, -1].astype(np.int64)
    return X, encode_targets(labels, 10, "softmax").astype(np.float32), labels


def rulelab_generations(net: Network, theta, X, T, labels):
    rule = OpenAIES(population=POP, sigma=SIGMA, lr=LR)
    rng = np.random.default_rng(0)
    state = rule.start(theta.astype(np.float32), rng)  # as the runner does: noise in the net's dtype
    fitness = np.empty(POP)

    def generation():
        population = np.ascontiguousarray(rule.ask(state, rng), dtype=np.float32)
        population_fitness(population, net.layout, net.act_args, X, T, labels, K.CROSS_ENTROPY, 0.5,
                           FITNESS_LOSS, fitness)
        rule.tell(state, population, fitness)

    generation()  # compile or load from the cache

    def run() -> float:
        with single_threaded_blas():  # as the runner does: members in parallel, one BLAS thread each
            start = time.perf_counter()
            for _ in range(GENERATIONS):
                generation()
            return GENERATIONS / (time.perf_counter() - start)

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


def evosax_generations(theta, X, T):
    """evosax's Open_ES (JAX, CPU): jitted ask, fitness (vmapped over members) and tell."""
    try:
        import jax
        import jax.numpy as jnp
        import optax
        from evosax.algorithms import Open_ES
    except ImportError:
        return None
    es = Open_ES(population_size=POP, solution=jnp.zeros(theta.size, jnp.float32), optimizer=optax.adam(LR),
                 std_schedule=optax.constant_schedule(SIGMA))
    params = es.default_params
    Xj, Tj = jnp.asarray(X), jnp.asarray(T)

    def loss(flat):  # evosax minimises: fitness = cross-entropy
        W1 = flat[:2048].reshape(32, 64)
        W2 = flat[2080:2400].reshape(10, 32)
        a1 = jnp.tanh(Xj @ W1.T + flat[2048:2080])
        z2 = a1 @ W2.T + flat[2400:2410]
        return -(jax.nn.log_softmax(z2) * Tj).sum(axis=1).mean()

    fitness_fn = jax.jit(jax.vmap(loss))
    key = jax.random.key(0)
    state = es.init(key, jnp.asarray(theta, jnp.float32), params)

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
    X, T, labels = data()
    net = Network((64, 32, 10), ("tanh", "softmax"), dtype="float32")
    theta = init_params(net, np.random.default_rng(0)).astype(np.float64)
    runs = {"rulelab": rulelab_generations(net, theta, X, T, labels), "numpy": numpy_generations(theta, X, T),
            "evosax": evosax_generations(theta, X, T)}
    runs = {name: run for name, run in runs.items() if run is not None}
    best = {name: 0.0 for name in runs}
    for _ in range(REPEATS):  # interleaved, best of: the machine is shared and noisy
        for name, run in runs.items():
            best[name] = max(best[name], run())
    print(f"OpenAI-ES, population {POP}, sigma {SIGMA}, 64-32-10 tanh/softmax, fitness on {BATCH} digits, "
          f"{os.cpu_count()} cores")
    print(f"  rulelab  {best['rulelab']:7.1f} generations/s")
    print(f"  numpy    {best['numpy']:7.1f} generations/s   rulelab is {best['rulelab'] / best['numpy']:.2f}x "
          "(target >= 1.5x)")
    if "evosax" in best:
        print(f"  evosax   {best['evosax']:7.1f} generations/s   rulelab is "
              f"{best['rulelab'] / best['evosax']:.2f}x (target >= 1x)")
    else:
        print("  evosax   not installed (pip install evosax)")


if __name__ == "__main__":
    main()

"""OpenAI-ES on a recurrent net: whole epochs of generations in compiled calls vs one generation per Python call.

The task and rule of scenarios/rnn-bptt.yaml's OpenAI-ES (temporal XOR, delay 2, 1200 sequences, a 2-16-2
tanh Elman net, population 10, fitness minibatches of 50 sequences: 20 generations an epoch), one seed,
5 epochs with the loss and accuracy on both sets after each.

    rulelab   run_plan: every epoch in compiled code (rulelab.tasks.recurrent.strategy_run)
    python    the same strategy driven a generation at a time from Python with rulelab's own compiled
              pieces (Search.ask, population_fitness, Search.tell, evaluate): how rulelab ran it before
              2026-12-01, and what a notebook driving rulelab's kernels does

Both give the same numbers (tests/test_rnn_scenarios.py checks it bit for bit).  Interleaved, best of 5.
Run:  python benchmarks/bench_es_rnn.py
"""

from __future__ import annotations

import time

import numpy as np

from rulelab.build import build_plan, prepare_data
from rulelab.core.population import Search
from rulelab.run.runner import run_plan
from rulelab.scenario import validate_scenario
from rulelab.tasks import recurrent as R

EPOCHS = 5
SCENARIO = {"name": "es-rnn", "seed": 0, "repeats": 1,
            "task": {"kind": "sequence", "dataset": {"name": "delayed_recall", "bits": 2, "delay": 2,
                                                     "n_samples": 1200}},
            "network": {"layers": [{"kind": "recurrent", "units": 16, "activation": "tanh"}, 2],
                        "output_activation": "softmax"},
            "train": {"epochs": EPOCHS, "batch_size": 1},
            "metrics": ["train_loss", "train_accuracy", "test_loss", "test_accuracy"],
            "rules": [{"rule": "openai_es", "population": 10, "sigma": 0.05, "lr": 0.03, "fitness_batch": 50}]}


def plan():
    scenario = validate_scenario(SCENARIO)
    return build_plan(scenario, scenario.rules[0], 0, prepare_data(scenario, 0))


def python_generations(p) -> np.ndarray:
    """The strategy a generation at a time from Python; returns the final mean."""
    net, hp = p.network, p.rule.params
    (X, Y, M), (EX, EY, EM) = ((s.X, s.Y, s.M) for s in p.data.sequences)
    search = Search(p.rule, np.asarray(p.params, dtype=np.float64), p.state_rng)
    h, s, o = np.zeros((net.steps, net.hidden)), np.zeros((net.steps + 1, net.hidden)), np.zeros((net.steps, net.classes))
    fitness = np.empty(search.population.shape[0])
    R.evaluate(search.mean.copy(), net.dims, net.netf, X, Y, M, h, s, o)
    R.evaluate(search.mean.copy(), net.dims, net.netf, EX, EY, EM, h, s, o)
    for _ in range(EPOCHS):
        order = p.shuffle_rng.permutation(X.shape[0])
        for lo in range(0, X.shape[0], hp.fitness_batch):
            rows = order[lo:lo + hp.fitness_batch]
            R.population_fitness(search.ask(), net.dims, net.netf, np.ascontiguousarray(X[rows]),
                                 np.ascontiguousarray(Y[rows]), np.ascontiguousarray(M[rows]), False, fitness)
            search.tell(fitness)
        mean = search.mean.copy()
        R.evaluate(mean, net.dims, net.netf, X, Y, M, h, s, o)
        R.evaluate(mean, net.dims, net.netf, EX, EY, EM, h, s, o)
    return search.mean.copy()


def main() -> None:
    compiled = run_plan(plan())  # load the kernels
    assert np.array_equal(compiled.params, python_generations(plan()))
    generations = EPOCHS * -(-plan().data.sequences[0].X.shape[0] // 50)  # minibatches an epoch
    best = {"rulelab": np.inf, "python": np.inf}
    for _ in range(5):
        p = plan()
        start = time.perf_counter()
        run_plan(p)
        best["rulelab"] = min(best["rulelab"], time.perf_counter() - start)
        p = plan()
        start = time.perf_counter()
        python_generations(p)
        best["python"] = min(best["python"], time.perf_counter() - start)
    print(f"OpenAI-ES on a 2-16-2 Elman net, pop 10, {generations} generations + {EPOCHS + 1} evaluations "
          f"(best of 5, interleaved):")
    for name, seconds in best.items():
        print(f"  {name:8s} {seconds * 1e3:7.1f} ms  ({generations / seconds:6.0f} generations/s)")
    print(f"  compiled whole epochs are {best['python'] / best['rulelab']:.2f}x the generation-by-generation loop")


if __name__ == "__main__":
    main()

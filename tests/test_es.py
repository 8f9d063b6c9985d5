"""Evolution strategies: sphere convergence, determinism across threads, tasks, bad input."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from rulelab.rules.cma_es import CMAES
from rulelab.rules.mu_lambda_es import MuLambdaES
from rulelab.rules.one_plus_one_es import OnePlusOneES
from rulelab.rules.openai_es import OpenAIES
from rulelab.core.population import FITNESS_LOSS, Search, centered_ranks, population_fitness
from tests.conftest import ROOT


def sphere_run(rule, n, generations, seed=0):
    """Minimise ‖x‖² from x = 1 with the compiled ask/tell kernels the engine runs (fitness = −‖x‖²)."""
    search = Search(rule, np.ones(n), np.random.default_rng(seed))
    history = []
    for _ in range(generations):
        population = search.ask()
        search.tell(-np.sum(population ** 2, axis=1))
        history.append(float(np.sum(search.mean ** 2)))
    return np.array(history)


@pytest.mark.parametrize("n", [10, 100])
@pytest.mark.parametrize("rule,generations,reach", [
    (OnePlusOneES(sigma=0.5), 40, 1e-3),
    (MuLambdaES(population=20, parents=5, sigma=0.5), 30, 1e-12),
    (CMAES(sigma=0.5), 30, 1e-12),
])
def test_strategies_converge_on_the_sphere(rule, generations, reach, n):
    history = sphere_run(rule, n, generations * n)
    assert history[-1] < reach * n  # from ‖x‖² = n


@pytest.mark.parametrize("n", [10, 100])
def test_openai_es_descends_the_sphere_to_its_noise_floor(n):
    # With a fixed σ the estimate is of the σ-smoothed sphere: it stalls near ‖x‖² ~ σ² scale.
    history = sphere_run(OpenAIES(population=50, sigma=0.05, lr=0.05), n, 1000)
    assert history[-1] < 0.01 * n


def test_one_plus_one_es_converges_linearly():
    """log ‖x‖² falls at a steady rate: the two halves of the run make similar progress per generation."""
    history = sphere_run(OnePlusOneES(sigma=0.5), 10, 800)
    logs = np.log(history)
    first = (logs[99] - logs[399]) / 300
    second = (logs[399] - logs[699]) / 300
    assert first > 0.01 and second > 0.01
    assert 0.5 < first / second < 2.0
    assert history[-1] < 1e-8


def test_centered_ranks_and_nan_is_worst():
    np.testing.assert_allclose(centered_ranks(np.array([3.0, -1.0, 10.0, 0.0])), [1 / 6, -0.5, 0.5, -1 / 6])
    ranks = centered_ranks(np.array([1.0, np.nan, 2.0]))
    assert ranks[1] == -0.5 and ranks[2] == 0.5
    np.testing.assert_allclose(centered_ranks(np.array([1.0, 1.0, 0.0])), [0.25, 0.25, -0.5])  # ties share


def _conv_net():
    from rulelab.core.network import LayerSpec, Network

    specs = [LayerSpec("conv1d", 3, (1, 3), (1, 1), "same"), LayerSpec("pool1d", 0, (1, 2), None),
             LayerSpec("flatten"), LayerSpec("dense", 3)]
    return Network.from_layers((1, 6), specs, ("relu", "linear", "linear", "softmax"))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_population_fitness_matches_evaluate_and_ignores_thread_count(kind):
    """Members in dense blocks, or (conv) each through every kind's batch forward: −mean loss per member,
    the same at any thread count."""
    from rulelab.core import kernels as K
    from rulelab.core.network import Network, encode_targets, init_params

    rng = np.random.default_rng(0)
    net = Network((5, 7, 3), ("tanh", "softmax")) if kind == "dense" else _conv_net()
    population = np.stack([init_params(net, np.random.default_rng(i)) for i in range(16)])
    X = rng.normal(size=(40, 5 if kind == "dense" else 6))
    labels = rng.integers(0, 3, 40)
    T = encode_targets(labels, 3, "softmax")
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        out = np.empty(16)
        population_fitness(population, net.layout, net.act_args, X, T, labels, K.CROSS_ENTROPY, 0.5,
                           FITNESS_LOSS, out)
        results.append(out)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(results[0], results[1])
    expected = [-K.evaluate(p, net.layout, net.act_args, X, T, labels, K.CROSS_ENTROPY, 0.5)[0] for p in population]
    np.testing.assert_allclose(results[0], expected, rtol=1e-12)


def test_xor_solved_and_forward_passes_counted():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "xor.yaml", repeats=5,
                             overrides=["rules=[{rule: openai_es, population: 50, sigma: 0.5, lr: 0.1}]"])
    records = run_scenario(scenario)
    assert sum(r.status == "converged" for r in records) >= 3
    for r in records:
        generations = [v for _, m, v in r.all_rows() if m == "generations"][-1]
        assert r.forward_passes == generations * 50 * 4  # one per sample per member


def test_openai_es_reaches_85_percent_on_digits():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "digits.yaml", repeats=1, overrides=[
        "train.epochs=10", "rules=[{rule: openai_es, population: 100, sigma: 0.05, lr: 0.03, fitness_batch: 256}]"])
    (record,) = run_scenario(scenario)
    assert record.final("test_accuracy") >= 0.85


def test_same_seed_same_numbers_whatever_the_threads():
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "digits.yaml", repeats=1, overrides=[
        "train.epochs=2", "rules=[{rule: openai_es, population: 20, fitness_batch: 128}]"])
    numba.set_num_threads(1)
    one = run_scenario(scenario)[0]
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    many = run_scenario(scenario)[0]
    strip = [(e, m, v) for e, m, v in one.all_rows() if m != "wall_seconds"]
    assert strip == [(e, m, v) for e, m, v in many.all_rows() if m != "wall_seconds"]


def test_nan_fitness_is_ranked_worst_and_counted(write_scenario):
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    rule = OpenAIES(population=4, sigma=1.0, lr=0.1, optimizer="sgd", momentum=0.0)
    search = Search(rule, np.zeros(3), np.random.default_rng(0))
    population = search.ask().copy()
    search.tell(np.array([np.nan, 1.0, 2.0, 3.0]))
    half = search.noise[:2]  # members are θ + σε₁, θ + σε₂, θ − σε₁, θ − σε₂
    np.testing.assert_allclose(population, np.concatenate([half, -half]))
    ranks = np.array([-0.5, -1 / 6, 1 / 6, 0.5])  # the NaN member (first) ranks last
    np.testing.assert_allclose(search.mean, 0.1 * ranks @ np.concatenate([half, -half]) / 4)
    before = search.mean.copy()
    search.ask()
    search.tell(np.full(4, np.nan))
    np.testing.assert_array_equal(search.mean, before)  # nothing learned from NaN alone
    # End to end: σ so large that every member's softmax overflows; counted, reported, no crash.
    raw = {"name": "nan", "task": {"dataset": "blobs"},
           "network": {"layers": [2, 3, 2], "activation": "linear", "output_activation": "softmax"},
           "train": {"epochs": 3}, "rules": [{"rule": "openai_es", "population": 10, "sigma": 1e300}]}
    (record,) = run_scenario(load_scenario(write_scenario(raw)))
    assert record.status == "completed"
    assert [v for _, m, v in record.all_rows() if m == "nan_fitness"] == [10, 20, 30]
    assert record.message == "30 members had a NaN fitness (ranked worst)"


@pytest.mark.parametrize("entry,message", [
    ({"rule": "openai_es", "population": 7}, "rules[0]: population must be even for antithetic (mirrored) sampling; got 7"),
    ({"rule": "openai_es", "population": 1, "antithetic": False}, "rules[0].population: got 1; input should be greater than or equal to 2"),
    ({"rule": "mu_lambda_es", "sigma": 0}, "rules[0].sigma: got 0; input should be greater than 0"),
    ({"rule": "mu_lambda_es", "parents": 20, "population": 20}, "rules[0]: parents (μ = 20) must be fewer than population (λ = 20)"),
])
def test_bad_es_settings(write_scenario, entry, message):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "bad", "task": {"dataset": "xor"}, "network": {"layers": [2, 2, 1]}, "rules": [entry]}
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_scenario(raw))
    assert message in info.value.format()


def test_cma_es_refuses_large_networks(write_scenario):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "big", "task": {"dataset": "digits"}, "network": {"layers": [64, 100, 10]},
           "rules": [{"rule": "cma_es"}]}
    with pytest.raises(ScenarioError, match="cma_es keeps an n × n covariance; this network has 7510 parameters"):
        load_scenario(write_scenario(raw))


def test_rules_table_says_fitness_only():
    from rulelab.registry import available_rules

    rules = available_rules()
    for name in ("openai_es", "one_plus_one_es", "mu_lambda_es", "cma_es"):
        assert rules[name].describe()["needs"] == "a fitness only"
        assert rules[name].family == "evolutionary"


def test_gaussian_rows_are_numpys_draws_and_ignore_thread_count():
    from rulelab.core.population import NOISE_STREAMS, ESState, gaussian_rows

    rows, n = 37, 5  # rows not a multiple of the stream count: shares of 3, the last stream idle
    draws = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        state = ESState(np.zeros(n), 1.0)
        rng = np.random.default_rng(4)
        draws.append((gaussian_rows(state, rng, rows, n), gaussian_rows(state, rng, rows, n)))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    assert not np.array_equal(draws[0][0], draws[0][1])  # each call draws fresh noise
    # Stream b gives rows [3b, 3b + 3): exactly what NumPy draws from the same seeds.
    seeds = np.random.SeedSequence(int(np.random.default_rng(4).integers(2 ** 63))).spawn(NOISE_STREAMS)
    share = -(-rows // NOISE_STREAMS)
    expected = np.concatenate([np.random.Generator(np.random.PCG64(s)).standard_normal((share, n))
                               for s in seeds])[:rows]
    np.testing.assert_array_equal(draws[0][0], expected)


def test_blas_limit_starts_the_parallel_workers_first():
    """Workers started after threadpoolctl's BLAS limit made their BLAS calls ignore it (38 ms a
    generation instead of 10, see benchmarks/README.md): the limit must start them first."""
    import subprocess
    import sys

    code = ("import numba\n"
            "from rulelab.run.runner import single_threaded_blas\n"
            "with single_threaded_blas():\n    print('started with', numba.threading_layer())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.startswith("started with ")  # the workers exist by the time BLAS is limited

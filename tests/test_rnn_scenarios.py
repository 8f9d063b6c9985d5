"""Sequence tasks through scenarios: validation with key paths (exit 2), whole runs, paired seeds, the contract kit."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rulelab.cli import main
from rulelab.rules.bptt import BPTT
from rulelab.rules.eprop import Eprop
from rulelab.run.runner import run_scenario
from rulelab.scenario import ScenarioError, validate_scenario
from rulelab.testing import RuleCheckError, check_rule
from rulelab.tasks.sequence import SequenceRule

BASE = {"name": "tiny-rnn", "seed": 0, "repeats": 1,
        "task": {"kind": "sequence", "dataset": {"name": "delayed_recall", "delay": 2, "n_samples": 60}},
        "network": {"layers": [{"kind": "recurrent", "units": 4}, 2]},
        "train": {"epochs": 3, "batch_size": 1},
        "rules": [{"rule": "bptt", "lr": 0.05}, {"rule": "eprop", "lr": 0.05},
                  {"rule": "openai_es", "population": 4, "fitness_batch": 16}]}


def _with(**changes):
    raw = yaml.safe_load(yaml.safe_dump(BASE))
    for path, value in changes.items():
        node = raw
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(keys[-1])] = value
        else:
            node[keys[-1]] = value
    return raw


def _problems(raw) -> dict[str, str]:
    with pytest.raises(ScenarioError) as info:
        validate_scenario(raw)
    return dict(info.value.problems)


@pytest.mark.parametrize("change, path, words", [
    ({"task.dataset.delay": -1}, "task.dataset.delay", "greater than or equal"),
    ({"task.dataset.name": "delayed_recal"}, "task.dataset.name", "delayed_recall"),
    ({"network.layers": [[9, 2], {"kind": "recurrent", "units": 4}, 2]}, "network.layers[0]", "[4, 2]"),
    ({"network.layers": [{"kind": "recurrent", "units": 0}, 2]}, "network.layers[0].units", "≥ 1"),
    ({"network.layers": [{"kind": "recurrent", "units": 4, "leak": 1.0}, 2]}, "network.layers[0].leak", "[0, 1)"),
    ({"network.layers": [{"kind": "recurrent", "units": 4, "unit": 3}, 2]}, "network.layers[0].unit", "units"),
    ({"network.layers": [{"kind": "recurrent", "units": 4}, 3]}, "network.layers[1]", "2 outputs"),
    ({"network.output_activation": "sigmoid"}, "network.output_activation", "softmax"),
    ({"rules.0.truncation": -2}, "rules[0].truncation", "greater than or equal"),
    ({"rules.0.rule": "backprop"}, "rules[0].rule", "does not train recurrent nets"),
    ({"rules.1.feedback": "sideways"}, "rules[1].feedback", "random"),
])
def test_bad_sequence_scenarios_name_the_key(change, path, words):
    problems = _problems(_with(**change))
    assert path in problems, problems
    assert words in problems[path]


def test_bad_scenario_exits_2_with_file_and_key_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with(**{"rules.0.clip": -1.0})))
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "rules[0].clip" in result.output
    assert "Traceback" not in result.output


def test_a_sequence_scenario_runs_every_kind_of_rule_paired_and_deterministic():
    scenario = validate_scenario(_with())
    records = run_scenario(scenario)
    assert [r.label for r in records] == ["bptt", "eprop", "openai_es"]
    assert all(r.status == "completed" for r in records), [r.message for r in records]
    first = {r.label: r.final("test_accuracy") for r in records}
    again = {r.label: r.final("test_accuracy") for r in run_scenario(scenario)}
    assert first == again
    # The same initial weights for every rule (paired): epoch 0's loss is the same number.
    initial = {r.blocks[0].values[0, r.blocks[0].names.index("train_loss")] for r in records}
    assert len(initial) == 1
    es = records[2]
    assert es.forward_passes == es.samples * 4  # one forward pass per sequence per member


def test_bptt_learns_delayed_recall_and_the_resolved_file_revalidates(tmp_path):
    raw = _with(**{"train.epochs": 15, "task.dataset.n_samples": 200})
    raw["rules"] = [{"rule": "bptt", "lr": 0.01, "optimizer": "adam", "clip": 1.0}]
    scenario = validate_scenario(raw)
    record = run_scenario(scenario)[0]
    assert record.final("test_accuracy") >= 0.95
    assert validate_scenario(yaml.safe_load(scenario.as_yaml())).resolved == scenario.resolved


@pytest.mark.parametrize("rule", [BPTT, Eprop])
def test_sequence_rules_pass_the_contract_kit(rule):
    assert "sequence rules" in check_rule(rule)


def test_the_kit_catches_a_sequence_rule_with_a_wrong_readout():
    from rulelab.tasks import sequence as S

    class Broken(SequenceRule):
        name = "broken"
        equation = "Δθ = …"

        def feedback_matrix(self, net, params, rng):  # readout error through random B: fine; but draws unseeded
            return np.random.default_rng().uniform(-1, 1, net.classes * net.hidden)

    with pytest.raises(RuleCheckError, match="same seed"):
        check_rule(Broken)
    assert S  # the module the kit drives


@pytest.mark.parametrize("strategy, extra", [("openai_es", {"population": 4}), ("cma_es", {}),
                                             ("one_plus_one_es", {}), ("mu_lambda_es", {})])
def test_every_evolution_strategy_trains_a_recurrent_net_within_a_forward_pass_budget(strategy, extra):
    raw = _with(**{"train.epochs": 50, "train.budget": {"forward_passes": 600}})
    raw["rules"] = [{"rule": strategy, "fitness_batch": 10, **extra}]
    scenario = validate_scenario(raw)
    record = run_scenario(scenario)[0]
    assert record.status == "completed", record.message
    members = record.forward_passes // record.samples
    assert record.forward_passes <= 600 + members * 10  # the last generation is completed
    assert record.samples == 600 // members or record.forward_passes >= 600 - members
    start = record.blocks[0].values[0, record.blocks[0].names.index("train_loss")]
    assert np.isfinite(record.final("train_loss")) and record.final("train_loss") != start  # it moved
    again = run_scenario(scenario)[0]
    assert np.array_equal(again.params, record.params)


def test_a_forward_pass_budget_stops_bptt_at_the_same_count():
    raw = _with(**{"train.epochs": 50, "train.budget": {"forward_passes": 100}})
    raw["rules"] = [{"rule": "bptt"}, {"rule": "eprop"}]
    for record in run_scenario(validate_scenario(raw)):
        assert record.forward_passes == 100 and record.samples == 100
        assert record.epochs_run == 3  # 48 training sequences per epoch


def test_the_report_says_in_words_which_rule_fails(tmp_path):
    from rulelab.output.plots import Run
    from rulelab.output.sequence_plots import sequence_verdicts

    resolved = {"task": {"kind": "sequence", "dataset": {"name": "delayed_recall"}},
                "network": {"layers": [[4, 2], {"kind": "recurrent"}, 2], "output_activation": "softmax"}}
    metrics = {("good", "test_accuracy"): {0: {5: 1.0}, 1: {5: 0.95}},
               ("mixed", "test_accuracy"): {0: {5: 1.0}, 1: {5: 0.5}},
               ("bad", "test_accuracy"): {0: {5: 0.52}, 1: {5: 0.49}}}
    text = sequence_verdicts(Run(tmp_path, resolved, ["good", "mixed", "bad"], metrics, []))
    assert "<b>good</b>: 97.5% mean test accuracy over 2 seed(s) — solves it (≥ 90 %) in every seed" in text
    assert "<b>mixed</b>: 75.0% mean test accuracy over 2 seed(s) — solves it (≥ 90 %) in 1 of 2 seeds, stays " \
           "at chance (50%) in 1" in text
    assert "<b>bad</b>: 50.5% mean test accuracy over 2 seed(s) — fails: at chance (50%) in every seed" in text


def test_a_sequence_rule_refuses_a_feed_forward_net_in_words():
    from rulelab.core.network import Network
    from rulelab.tasks.sequence import RecurrentNet

    assert BPTT().network_problem(RecurrentNet(2, 3, 2, 4)) is None
    assert "recurrent nets" in BPTT().network_problem(Network((4, 3, 2), ("tanh", "softmax")))


@pytest.mark.parametrize("layer, path", [
    ({"kind": "recurrent", "units": 4, "gain": float("inf")}, "network.layers[0].gain"),
    ({"kind": "recurrent", "units": 4, "leak": float("nan")}, "network.layers[0].leak"),
    ({"kind": "recurrent", "units": 10 ** 9}, "network.layers[0].units"),
    ({"kind": "recurrent", "units": 4, "init": ["orthogonal"]}, "network.layers[0].init"),
])
def test_hostile_recurrent_layers_are_refused_with_a_key_path(layer, path):
    assert path in _problems(_with(**{"network.layers": [layer, 2]}))


@pytest.mark.parametrize("dataset, layers, output, epochs, check", [
    ({"name": "embedded_reber", "n_samples": 200}, [{"kind": "recurrent", "units": 16}, 7], "softmax", 5,
     lambda first, last: first["test_accuracy"] < 0.35 and last["test_accuracy"] > 0.55),
    ({"name": "next_character", "n_samples": 200, "steps": 20}, [{"kind": "recurrent", "units": 32}, 36],
     "softmax", 5, lambda first, last: first["test_accuracy"] < 0.05 and last["test_accuracy"] > 0.35),
    ({"name": "digits_rows"}, [[8, 8], {"kind": "recurrent", "units": 32}, 10], "softmax", 3,
     lambda first, last: last["test_accuracy"] > 0.6),
    # Below ½ Var(x1 + x2) = 1/12, the loss of always answering the mean sum 1: it uses the marked values.
    ({"name": "adding", "n_samples": 400, "steps": 10}, [{"kind": "recurrent", "units": 16}, 1], "linear", 40,
     lambda first, last: last["test_loss"] < 1 / 12 < first["test_loss"]),
])
def test_bptt_learns_every_kind_of_sequence_task(dataset, layers, output, epochs, check):
    """Sequence to sequence with padding (Reber), next characters, rows of images, and regression (adding):
    per-step masks, losses and accuracies through the whole scenario path."""
    raw = _with(**{"task.dataset": dataset, "network.layers": layers, "network.output_activation": output,
                   "train.epochs": epochs})
    raw["rules"] = [{"rule": "bptt", "lr": 0.01, "optimizer": "adam", "clip": 1.0}]
    record = run_scenario(validate_scenario(raw))[0]
    block = record.blocks[0]
    first = dict(zip(block.names, block.values[0]))
    last = dict(zip(block.names, block.values[-1]))
    assert check(first, last), (first, last)


def test_a_sequence_file_with_tasks_draws_every_recurrent_figure(tmp_path):
    raw = _with(**{"train.epochs": 2})
    raw["rules"] = [{"rule": "bptt", "lr": 0.05}]
    raw["tasks"] = [{"name": f"delay-{d}", "task": {"kind": "sequence",
                                                   "dataset": {"name": "delayed_recall", "delay": d, "n_samples": 40}}}
                    for d in (1, 3)]
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(path), "--quiet", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for task in ("delay-1", "delay-3"):
        names = {p.stem for p in (out / task / "figures").glob("*.png")}
        assert {"rnn-hidden-states", "rnn-loss-per-step", "rnn-gradient-norm-vs-steps-back"} <= names
        assert "mean test accuracy over 1 seed(s)" in (out / task / "report.html").read_text()
    assert (out / "figures" / "accuracy-vs-delay.png").is_file()
    assert "Across tasks" in (out / "report.html").read_text()


def test_gradient_norm_at_the_last_step_is_the_readout_error_through_g_prime():
    """j = 0 steps back: ‖δ_T‖ = ‖G′(h_T) ⊙ Vᵀ(y_T − t_T)‖, checked against the net written out in NumPy."""
    from rulelab.output.sequence_plots import gradient_norms
    from rulelab.tasks.sequence import RecurrentNet, run_forward

    net = RecurrentNet(2, 3, 2, 5)
    rng = np.random.default_rng(4)
    params = net.init_params(rng) * 2
    X = rng.normal(size=(3, net.n_inputs))
    Y = np.zeros((3, net.steps, 2))
    Y[:, -1, 1] = 1.0
    norms = gradient_norms(net, params, X, Y.reshape(3, -1))
    expected = []
    for x in X:
        h, s, o = run_forward(net, params, x)
        expected.append(np.linalg.norm((1 - s[-1] ** 2) * (net.parts(params)["V"].T @ (o[-1] - [0.0, 1.0]))))
    assert norms[0] == pytest.approx(np.mean(expected), rel=1e-12)
    assert norms.shape == (net.steps,) and np.all(norms > 0)


@pytest.mark.parametrize("rule", [{"rule": "bptt"}, {"rule": "openai_es", "population": 4, "fitness_batch": 16}])
def test_ctrl_c_between_chunks_keeps_the_epochs_so_far(monkeypatch, rule):
    import rulelab.run.runner as runner
    from rulelab.build import build_plan, prepare_data

    raw = _with(**{"train.epochs": 5})
    raw["rules"] = [rule]
    scenario = validate_scenario(raw)
    plan = build_plan(scenario, scenario.rules[0], 0, prepare_data(scenario, 0))
    monkeypatch.setattr(runner, "interrupt_requested", lambda: True)
    with pytest.raises(KeyboardInterrupt) as info:
        runner.run_plan(plan)
    record = info.value.record
    assert record.status == "interrupted" and record.epochs_run == 1
    assert list(record.blocks[0].epochs) == [0, 1]


def test_same_numbers_at_any_thread_count():
    import numba

    raw = _with(**{"train.epochs": 2})
    scenario = validate_scenario(raw)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        results.append([r.params for r in run_scenario(scenario)])
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert all(np.array_equal(a, b) for a, b in zip(*results))


def test_a_stop_criterion_ends_a_sequence_run_as_converged():
    raw = _with(**{"train.epochs": 50, "train.stop": {"train_accuracy": 0.9}, "task.dataset.n_samples": 200})
    raw["rules"] = [{"rule": "bptt", "lr": 0.01, "optimizer": "adam", "clip": 1.0}]
    record = run_scenario(validate_scenario(raw))[0]
    assert record.status == "converged"
    assert record.epochs_run == record.criterion_epoch < 50
    block = record.blocks[0]
    accuracy = block.values[:, block.names.index("train_accuracy")]
    assert accuracy[-1] >= 0.9 and np.all(accuracy[:-1] < 0.9)


def _strategy_reference(plan):
    """An evolution strategy on a recurrent net driven a generation at a time from Python (a Search: ask,
    population_fitness, tell): what the compiled run must reproduce bit for bit."""
    from rulelab.core.population import Search
    from rulelab.tasks import recurrent as R

    net, hp = plan.network, plan.rule.params
    (X, Y, M), (EX, EY, EM) = ((s.X, s.Y, s.M) for s in plan.data.sequences)
    search = Search(plan.rule, np.asarray(plan.params, dtype=np.float64), plan.state_rng)
    batch = hp.fitness_batch or X.shape[0]
    h, s, o = np.zeros((net.steps, net.hidden)), np.zeros((net.steps + 1, net.hidden)), np.zeros((net.steps, net.classes))
    rows = [[*R.evaluate(search.mean.copy(), net.dims, net.netf, X, Y, M, h, s, o),
             *R.evaluate(search.mean.copy(), net.dims, net.netf, EX, EY, EM, h, s, o), 0]]
    fitness = np.empty(search.population.shape[0])
    samples = 0
    for _ in range(plan.train.epochs):
        order = plan.shuffle_rng.permutation(X.shape[0])
        for lo in range(0, X.shape[0], batch):
            take = order[lo:lo + batch]
            R.population_fitness(search.ask(), net.dims, net.netf, X[take], Y[take], M[take], False, fitness)
            search.tell(fitness)
            samples += take.size
        mean = search.mean.copy()
        rows.append([*R.evaluate(mean, net.dims, net.netf, X, Y, M, h, s, o),
                     *R.evaluate(mean, net.dims, net.netf, EX, EY, EM, h, s, o), samples])
    return np.asarray(rows), search.mean.copy()


@pytest.mark.parametrize("strategy, extra", [("openai_es", {"population": 6}), ("cma_es", {})])
def test_an_evolution_strategy_runs_whole_epochs_in_compiled_calls_with_the_numbers_of_python_generations(
        strategy, extra):
    from rulelab.build import build_plan, prepare_data
    from rulelab.run.runner import run_plan

    raw = _with(**{"train.epochs": 4, "metrics": ["train_loss", "train_accuracy", "test_loss", "test_accuracy"]})
    raw["rules"] = [{"rule": strategy, "fitness_batch": 16, **extra}]
    scenario = validate_scenario(raw)

    def plan():
        return build_plan(scenario, scenario.rules[0], 0, prepare_data(scenario, 0))

    calls = []
    record = run_plan(plan(), calls.append)
    expected, mean = _strategy_reference(plan())
    block = record.blocks[0]
    got = block.values[:, [block.names.index(n) for n in
                           ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "samples")]]
    assert np.array_equal(got, expected)
    assert np.array_equal(record.params, mean)
    assert record.samples == 4 * 48 and record.epochs_run == 4  # 60 sequences, 20 % held out
    assert calls[0] == 1 and sum(calls) == 4  # a first call of one epoch, then chunks of about CHUNK_SECONDS

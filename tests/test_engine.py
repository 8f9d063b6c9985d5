"""The online engine: whole runs in compiled calls, the engine of dense nets, calls that end by the clock."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.build import build_plan, prepare_data
from rulelab.core import engine as E
from rulelab.run import online as O
from rulelab.scenario import load_scenario

XOR = {
    "name": "xor", "seed": 0, "repeats": 1,
    "task": {"kind": "classification", "dataset": "xor"},
    "network": {"layers": [2, 3, 1], "activation": "sigmoid"},
    "train": {"epochs": 40, "batch_size": 1},
    "metrics": ["train_loss", "train_accuracy"],
    "rules": [{"rule": "backprop", "lr": 0.5}],
}


def _plan(write_scenario, scenario=XOR, seed=0):
    scenario = load_scenario(write_scenario(scenario))
    return build_plan(scenario, scenario.rules[0], seed, prepare_data(scenario, seed))


def _call(engine, plan, epochs, call_seconds=np.nan):
    """One engine call of up to ``epochs`` epochs on fresh weights and generators: (rows written, values, params)."""
    net, stage = plan.network, plan.stages[0]
    buffers = O._Buffers(plan)
    names, codes = O._codes(O._stage_columns(plan, stage))
    cfg, fcfg = plan.settings(0)
    fcfg[E.F_CALL_SECONDS] = call_seconds
    params = np.ascontiguousarray(plan.params, dtype=net.np_dtype).copy()
    run = np.zeros(E.RUN_SLOTS)
    run[E.R_CRITERION_EPOCH] = -1.0
    values = np.full((epochs, len(codes)), np.nan)
    X, Y, _ = plan.sets.train
    written = engine(stage.kernel, params, net.layout, net.act_args,
                     stage.state.copy(), stage.hp, X, Y, buffers.Xe, buffers.Ye, buffers.order,
                     np.random.default_rng([plan.seed, 3]), np.random.default_rng([plan.seed, 4]), *O._sets(plan),
                     codes, cfg, fcfg, run, epochs, values, buffers.snapshots(epochs, net.np_dtype), buffers.z,
                     buffers.a)
    return int(written), values, params, names


def test_dense_nets_get_the_engine_without_reference_counting_and_the_same_numbers(write_scenario):
    plan = _plan(write_scenario)
    assert E.engine_for(plan.network.layout) is E.run_epochs_dense
    n, dense, w_dense, names = _call(E.run_epochs_dense, plan, 40)
    m, generic, w_generic, _ = _call(E.run_epochs, plan, 40)
    assert n == m == 40
    timing = [names.index("wall_seconds")]
    keep = [c for c in range(len(names)) if c not in timing]
    assert np.array_equal(dense[:, keep], generic[:, keep])  # every bit: the same operations in the same order
    assert np.array_equal(w_dense, w_generic)
    # The epoch-40 train loss is the NumPy reference's (a plain forward pass of the trained weights).
    X, T, _ = plan.sets.train
    W1, b1 = w_dense[:6].reshape(3, 2), w_dense[6:9]
    W2, b2 = w_dense[9:12].reshape(1, 3), w_dense[12:13]
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    out = sigmoid(sigmoid(X @ W1.T + b1) @ W2.T + b2)
    assert dense[-1, names.index("train_loss")] == pytest.approx(np.mean(0.5 * np.sum((T - out) ** 2, axis=1)),
                                                                 rel=1e-12)


def test_nets_with_other_layer_kinds_get_the_general_engine(write_scenario):
    conv = dict(XOR, task={"kind": "classification", "dataset": "digits"},
                network={"layers": [[1, 8, 8], {"kind": "conv2d", "channels": 2, "kernel": 3}, {"kind": "flatten"},
                                    10], "activation": "relu", "output_activation": "softmax"})
    plan = _plan(write_scenario, conv)
    assert E.engine_for(plan.network.layout) is E.run_epochs


def test_a_call_returns_after_its_training_time_and_calls_add_up_to_one_run(write_scenario, monkeypatch):
    plan = _plan(write_scenario)
    whole_rows, whole, w_whole, names = _call(E.run_epochs_dense, plan, 40)
    # 1 ns of training allowed per call: every call stops after its first epoch.
    rows, one_epoch, _, _ = _call(E.run_epochs_dense, plan, 40, call_seconds=1e-9)
    assert rows == 1
    keep = [c for c, name in enumerate(names) if name != "wall_seconds"]
    assert np.array_equal(one_epoch[0, keep], whole[0, keep])
    # The run as the runner makes it, in calls of 3 epochs at most, gives the numbers of one call.
    from rulelab.run.record import RunRecord

    chunks = []
    monkeypatch.setattr(O, "MOST_EPOCHS_PER_CALL", 3)
    record = RunRecord(plan.label, plan.rule_name, plan.family, plan.seed)
    assert O.train_online(_plan(write_scenario), record, chunks.append, lambda: False)
    assert chunks == [3] * 13 + [1]
    trained = [block for block in record.blocks if block.epochs[0] > 0]
    values = np.vstack([block.values for block in trained])
    assert np.array_equal(values[:, keep], whole[:, keep])
    assert np.array_equal(record.params, w_whole)


def test_evolution_strategy_calls_end_by_the_clock_and_calls_of_one_epoch_give_the_numbers_of_one_call(
        write_scenario, monkeypatch):
    from rulelab.run import population as P
    from rulelab.run.record import RunRecord

    es = dict(XOR, rules=[{"rule": "openai_es", "population": 8, "sigma": 0.3}])

    def run(chunks):
        plan = _plan(write_scenario, es)
        record = RunRecord(plan.label, plan.rule_name, plan.family, plan.seed)
        assert P.train_population(plan, record, chunks.append, lambda: False)
        names = record.blocks[-1].names
        keep = [c for c, name in enumerate(names) if name != "wall_seconds"]
        return np.vstack([block.values[:, keep] for block in record.blocks[1:]]), record.params

    whole_chunks, one_epoch_chunks = [], []
    monkeypatch.setattr(P, "CALL_SECONDS", 3600.0)  # (not 0.1 s: a stalled test machine must not split it)
    whole, w_whole = run(whole_chunks)
    assert whole_chunks == [40]  # the whole run in one call: no first call of a guessed size
    monkeypatch.setattr(P, "CALL_SECONDS", 1e-9)  # every call returns after its first epoch
    split, w_split = run(one_epoch_chunks)
    assert one_epoch_chunks == [1] * 40
    assert whole.shape == (40, whole.shape[1]) and np.array_equal(split, whole)
    assert np.array_equal(w_split, w_whole)


@pytest.mark.parametrize("rule", [{"rule": "backprop", "lr": 0.5}, {"rule": "openai_es", "population": 8}])
def test_ctrl_c_in_the_last_call_of_a_run_keeps_it_finished_and_stops_before_the_next(write_scenario, rule):
    from rulelab.run.interrupts import deferred_interrupts, request_interrupt
    from rulelab.run.runner import run_scenario

    scenario = load_scenario(write_scenario(dict(XOR, repeats=2, train={"epochs": 40, "batch_size": 1},
                                                 rules=[rule])))
    done = []

    def ctrl_c_in_the_last_call(epochs: int) -> None:  # progress hears of each call's epochs as it returns
        done.append(epochs)
        if sum(done) == 40:
            request_interrupt()

    with deferred_interrupts(), pytest.raises(KeyboardInterrupt) as info:
        run_scenario(scenario, progress=ctrl_c_in_the_last_call)
    (record,) = info.value.records
    assert record.status == "completed" and record.epochs_run == 40 and record.seed == 0


@pytest.mark.parametrize("seed", [0, 1, 12345, 2 ** 32 - 1, 2 ** 32, 2 ** 40])
def test_seeded_rng_is_numpys_generator_of_the_pair(seed):
    """Plans build their generators from a uint32 array (faster); the streams are default_rng([seed, k])'s."""
    from rulelab.build import seeded_rng

    for stream in range(7):
        np.testing.assert_array_equal(seeded_rng(seed, stream).random(6),
                                      np.random.default_rng([seed, stream]).random(6))

"""Starting from earlier weights: a previous run or an earlier task, whole or some layers (stacked autoencoder)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rulelab.cli import main
from rulelab.scenario import ScenarioError, load_scenarios


def stacked(weights_from: dict | None = None, head: int = 10) -> dict:
    return {
        "name": "stacked", "seed": 3, "repeats": 1, "network": {"activation": "sigmoid"},
        "train": {"epochs": 1}, "rules": [{"rule": "backprop", "lr": 0.1}],
        "tasks": [
            {"name": "pretrain", "task": {"kind": "autoencoding", "dataset": "digits", "test_fraction": 0.25,
                                          "loss": "squared"}, "network": {"layers": [64, 8, 64]}},
            {"name": "classify", "task": {"kind": "classification", "dataset": "digits", "test_fraction": 0.25,
                                          "weights_from": weights_from or {"task": "pretrain", "layers": [0]}},
             "network": {"layers": [64, 8, head], "output_activation": "softmax"}},
        ]}


def test_an_earlier_tasks_encoder_starts_the_classifier(tmp_path):
    """Layer 0 of the classifier before training = the pretrained encoder; layer 1 = the seeded init a run
    without weights_from starts from (same seed stream [seed, 1])."""
    from rulelab.build import initial_params

    path = tmp_path / "stacked.yaml"
    path.write_text(yaml.safe_dump(stacked()))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--quiet", "--no-plots"])
    assert result.exit_code == 0, result.output
    with np.load(out / "pretrain" / "weights.npz") as saved:
        encoder = saved["backprop/seed3"][:64 * 8 + 8]  # layer 0: 8 × 64 weights, then 8 biases
    # The classify task as it ran re-validates alone: its weights_from names the pretrain folder.
    (_, ran), = load_scenarios(out / "classify" / "scenario.yaml")
    assert ran.weights_from.path == (out / "pretrain" / "weights.npz").resolve()
    start = initial_params(ran, ran.rules[0], 3)
    np.testing.assert_array_equal(start[:64 * 8 + 8], encoder)
    scratch = stacked()
    del scratch["tasks"][1]["task"]["weights_from"]
    (_, _), (_, fresh) = load_scenarios(_write(tmp_path, scratch))
    np.testing.assert_array_equal(start[64 * 8 + 8:], initial_params(fresh, fresh.rules[0], 3)[64 * 8 + 8:])
    assert not np.array_equal(start[:64 * 8 + 8], initial_params(fresh, fresh.rules[0], 3)[:64 * 8 + 8])


def _write(tmp_path, raw: dict):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("ref,where,words", [
    ({"task": "classify"}, "task.weights_from.task", "expected an earlier task of this file"),
    ({"task": "nope"}, "task.weights_from.task", "expected an earlier task"),
    ({"task": "pretrain", "layers": [2]}, "task.weights_from.layers[0]", "layers 0 … 1"),
    ({"task": "pretrain", "run": "x"}, "task.weights_from", "either run"),
])
def test_bad_references_are_reported_at_their_key_path(tmp_path, ref, where, words):
    with pytest.raises(ScenarioError) as info:
        load_scenarios(_write(tmp_path, stacked(ref)))
    assert any(p == where and m.startswith("tasks 'classify': ") and words in m
               for p, m in info.value.problems), info.value.problems


def test_a_layer_of_another_shape_fails_that_run_saying_why(tmp_path):
    """The pretrained layer 1 (8 → 64) cannot start a 8 → 10 head: the run fails with the shapes, exit 1."""
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(_write(tmp_path, stacked({"task": "pretrain", "layers": [1]}))),
                                       "--out", str(out), "--no-plots"])
    assert result.exit_code == 1
    import csv

    with open(out / "classify" / "runs.csv") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["status"] == "failed" and "layer 1 of rule 'backprop' is" in row["message"], row

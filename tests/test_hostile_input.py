"""Hostile input (issue 15): each class of bad file, option or data gets one clear line and exit 2.

One test (or a few) per class: files that are not UTF-8, capitalised keys, booleans given as
numbers, the inputs that used to end in a traceback, infinities and NaNs, duplicate keys, huge
counts, alias bombs, unbounded values in messages, the last-resort handler, and the run folder.
Every CLI case checks the exit code, the file and key path in the message, and that no
traceback is printed.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rulelab.cli import main
from rulelab.scenario import ScenarioError, read_yaml


@pytest.fixture
def gates_text(gates_scenario) -> str:
    return yaml.safe_dump(gates_scenario, sort_keys=False)


def validate(path: Path, *args: str):
    """`rulelab validate PATH ARGS…` in-process: (exit code, everything printed)."""
    result = CliRunner().invoke(main, ["validate", str(path), *args], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def refused(path: Path, *args: str) -> str:
    """The error message of an input that must be refused as bad input (exit 2, file named)."""
    code, output = validate(path, *args)
    assert code == 2, output
    assert output.startswith("error: ") and (str(path) in output or "--set" in output), output
    return output


def write(tmp_path: Path, text: str | bytes, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# ------------------------------------------------------------ 1. files that are not UTF-8


def test_latin1_file_names_the_byte_line_and_encoding(tmp_path, gates_text):
    path = write(tmp_path, gates_text.replace("name: gates", "name: café").encode("latin-1"))
    assert "line 1, column 10: byte 0xe9 is not UTF-8; save the file as UTF-8" in refused(path)


def test_utf16_and_binary_files_are_refused(tmp_path, gates_text):
    assert "the file is UTF-16 text; save it as UTF-8" in refused(write(tmp_path, gates_text.encode("utf-16")))
    garbage = bytes(range(256)) * 64
    assert "binary data" in refused(write(tmp_path, garbage, "garbage.yaml"))
    no_nul = bytes(range(1, 256)) * 64  # binary, but with no NUL byte to give it away
    assert "not UTF-8" in refused(write(tmp_path, no_nul, "garbage2.yaml"))


def test_utf8_with_byte_order_mark_is_fine(tmp_path, gates_text):
    assert validate(write(tmp_path, b"\xef\xbb\xbf" + gates_text.encode()))[0] == 0


def test_csv_that_is_not_utf8(tmp_path, gates_scenario):
    (tmp_path / "d.csv").write_bytes("a,b,label\n0,0,caf\xe9\n".encode("latin-1"))
    gates_scenario["task"]["dataset"] = {"name": "csv", "path": "d.csv"}
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "task.dataset: " in msg and "line 2 is not UTF-8 text" in msg


# ------------------------------------------------------------ 2. capitalised keys


@pytest.mark.parametrize("edit,expected", [
    (lambda raw: raw.update(Repeats=3), "Repeats: unknown key 'Repeats'; did you mean 'repeats'?"),
    (lambda raw: raw["rules"][0].update(LR=0.1), "rules[0].LR: unknown key 'LR'; did you mean 'lr'?"),
    (lambda raw: raw["train"].update(Epochs=3), "train.Epochs: unknown key 'Epochs'; did you mean 'epochs'?"),
    # inside a union (init: InitConfig | 'glorot' | …), where pydantic adds a capitalised branch tag
    (lambda raw: raw["network"]["init"].update(Scheme="uniform"),
     "network.init.Scheme: unknown key 'Scheme'; did you mean 'scheme'?"),
    (lambda raw: raw.update(Network=raw.pop("network")), "Network: unknown key 'Network'; did you mean 'network'?"),
])
def test_capitalised_keys_are_named(tmp_path, gates_scenario, edit, expected):
    edit(gates_scenario)
    assert expected in refused(write(tmp_path, yaml.safe_dump(gates_scenario)))


def test_a_missing_key_is_named_with_its_path(tmp_path, gates_scenario):
    del gates_scenario["network"]["layers"]
    assert "network.layers: missing; this key is required" in refused(write(tmp_path, yaml.safe_dump(gates_scenario)))


# ------------------------------------------------------------ 3. booleans are not numbers


@pytest.mark.parametrize("text_edit,expected", [
    (("repeats: 2", "repeats: yes"), "repeats: got true; expected a number, not a boolean"),
    (("- 2\n  - 1", "- 2\n  - true"), "network.layers[1]: got true; expected a number, not a boolean"),
    (("epochs: 20", "epochs: false"), "train.epochs: got false; expected a number, not a boolean"),
    (("lr: 0.1", "lr: true"), "rules[0].lr: got true; expected a number, not a boolean"),  # a hyperparameter
    (("dataset: and", "dataset: {name: moons, n_samples: on}"),
     "task.dataset.n_samples: got true; expected a number, not a boolean"),  # a dataset option
    (("batch_size: 1", "batch_size: 1\n  shuffle: 1"), "train.shuffle: got 1; expected true or false"),
])
def test_booleans_are_not_numbers(tmp_path, gates_text, text_edit, expected):
    old, new = text_edit
    assert old in gates_text
    assert expected in refused(write(tmp_path, gates_text.replace(old, new, 1)))


def test_hyperparameters_are_strict_in_python_too():
    from pydantic import ValidationError

    from rulelab.rules.openai_es import OpenAIES
    from rulelab.rules.perceptron import Perceptron

    for bad in ({"lr": True}, {"lr": "0.1"}, {"lr": float("inf")}, {"lr": float("nan")}):
        with pytest.raises(ValidationError):
            Perceptron.Params(**bad)
    with pytest.raises(ValidationError, match="at most 2\\^53"):
        OpenAIES.Params(population=2 ** 60)  # kernels read hyperparameters as float64
    assert Perceptron.Params(lr=1).lr == 1.0  # an integer is a fine float


def test_exponent_floats_read_as_numbers(tmp_path, gates_text):
    """Strict types would refuse `lr: 1e-3` if YAML 1.1 read it as text, as PyYAML does."""
    code, output = validate(write(tmp_path, gates_text.replace("lr: 0.1", "lr: 1e-3")))
    assert code == 0 and "lr: 0.001" in output


# ------------------------------------------------------------ 4. inputs that used to end in a traceback


def test_a_list_where_a_dataset_name_is_expected(tmp_path, gates_text):
    msg = refused(write(tmp_path, gates_text.replace("dataset: and", "dataset: [moons]")))
    assert "task.dataset: got ['moons']; expected a dataset name, or a mapping" in msg
    msg = refused(write(tmp_path, gates_text.replace("dataset: and", "dataset: {name: [moons]}")))
    assert "task.dataset.name: got ['moons']; expected a dataset name" in msg


def test_ragged_given_weights(tmp_path, gates_scenario):
    gates_scenario["network"]["init"] = {"scheme": "given", "layers": [{"weights": [[0.5], [0.5, 0.1]]}]}
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "network.init.layers[0].weights[1]: got 2 weights; expected 1, like weights[0]" in msg


def test_layer_sizes_beyond_64_bits(tmp_path, gates_scenario):
    gates_scenario["network"]["layers"] = [2, 10 ** 25, 1]
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "network.layers[1]: got 10^25; expected a whole number that fits 64 bits" in msg


def test_integers_longer_than_python_converts(tmp_path, gates_text):
    msg = refused(write(tmp_path, gates_text.replace("seed: 0", "seed: " + "9" * 5000)))
    assert "an integer of 5000 digits; expected a number that fits 64 bits" in msg


@pytest.mark.parametrize("load,expected", [
    (".inf", "task.association.loads[0]: got inf; expected a finite number"),
    ("1.0e300", "task.association: storing 10^302 patterns"),  # finite, but α N patterns are beyond memory
])
def test_huge_association_loads(tmp_path, load, expected):
    text = (f"name: h\ntask: {{kind: association, dataset: letters, association: {{loads: [{load}]}}}}\n"
            "network: {layers: [100, 100], activation: sign}\nrules: [{rule: storkey}]\n")
    assert expected in refused(write(tmp_path, text))


@pytest.mark.parametrize("content,expected", [
    ("a,b,label\n", "no data rows, only a header"),
    ("", "no data (the file is empty or holds only comments)"),
    ("a,b,label\n0,0,x\n1,1\n", "line 3 has 2 values; expected 3, like line 1"),
    ("a,b,label\n0,zero,x\n", "line 2, column 2: got 'zero'; expected a number"),
    ("label\nx\n", "only one column"),
])
def test_broken_csv_files(tmp_path, gates_scenario, content, expected):
    (tmp_path / "d.csv").write_text(content)
    gates_scenario["task"]["dataset"] = {"name": "csv", "path": "d.csv"}
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert f"task.dataset: {tmp_path / 'd.csv'}: {expected}" in msg


def test_csv_label_column_out_of_range(tmp_path, gates_scenario):
    (tmp_path / "d.csv").write_text("0,0,1\n1,1,0\n")
    gates_scenario["task"]["dataset"] = {"name": "csv", "path": "d.csv", "label_column": 5}
    assert "task.dataset.label_column: got 5; " in refused(write(tmp_path, yaml.safe_dump(gates_scenario)))


def test_csv_reader_matches_the_old_reader(tmp_path):
    """The streaming CSV reader gives what numpy's genfromtxt gave: comments, blank lines, labels as text."""
    from rulelab.data.datasets import DATASETS

    text = "# digits\nx,y,kind\n1.5,2,cat\n\n3,4e-1,dog  # trailing comment\n5,6,cat\n"
    (tmp_path / "d.csv").write_text(text)
    info = DATASETS["csv"]
    data = info.make(info.Options(path="d.csv", label_column="kind"), np.random.default_rng(0), tmp_path)
    np.testing.assert_array_equal(data.X, [[1.5, 2.0], [3.0, 0.4], [5.0, 6.0]])
    table = np.genfromtxt(tmp_path / "d.csv", delimiter=",", dtype=str, skip_header=2)
    assert data.y.tolist() == np.unique(table[:, 2], return_inverse=True)[1].tolist()


def test_paths_of_users_that_do_not_exist(tmp_path, gates_scenario):
    gates_scenario["task"]["dataset"] = {"name": "csv", "path": "~no_such_user_here/d.csv"}
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "task.dataset.path: got '~no_such_user_here/d.csv'; there is no home directory for" in msg
    gates_scenario["task"]["dataset"] = "and"
    gates_scenario["task"]["weights_from"] = "~no_such_user_here/run"
    assert "task.weights_from: no weights.npz in '~no_such_user_here/run'" in refused(
        write(tmp_path, yaml.safe_dump(gates_scenario)))


def test_broken_npz_files(tmp_path, gates_scenario):
    gates_scenario["task"]["dataset"] = {"name": "npz", "path": "d.npz"}
    path = write(tmp_path, yaml.safe_dump(gates_scenario))
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04" + bytes(100))
    assert f"task.dataset: {tmp_path / 'd.npz'}: not an NPZ file" in refused(path)
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.zeros(3))
    assert "y has 3 values; expected one label per row of X (4)" in refused(path)
    np.savez(tmp_path / "d.npz", X=np.array([[0.0, np.nan]] * 4), y=np.arange(4) % 2)
    assert "X row 0, value 1: got nan; expected finite numbers" in refused(path)
    np.save(tmp_path / "d.npy", np.zeros(3))  # a bare .npy under the .npz name
    (tmp_path / "d.npy").replace(tmp_path / "d.npz")
    assert "a single array (.npy), not an NPZ archive" in refused(path)


def test_npz_sizes_are_read_from_the_headers_before_the_data(tmp_path, gates_scenario, monkeypatch):
    """A small compressed archive can hold a huge array: its size is checked before it is read."""
    from rulelab.scenario import limits

    np.savez_compressed(tmp_path / "d.npz", X=np.zeros((4000, 2)), y=np.zeros(4000))
    monkeypatch.setattr(limits, "memory_bytes", lambda: 1000)
    gates_scenario["task"]["dataset"] = {"name": "npz", "path": "d.npz"}
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "X of shape (4000, 2) would take 64 KB as float64; this machine has 1 KB of memory" in msg


def test_table_rows_must_have_equal_lengths(tmp_path, gates_scenario):
    gates_scenario["task"]["dataset"] = {"name": "table", "inputs": [[0, 0], [1]], "labels": [0, 1]}
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "task.dataset.inputs[1]: got 1 values; expected 2, like inputs[0]" in msg
    gates_scenario["task"]["dataset"] = {"name": "table", "inputs": [[0, 0], [1, 1]], "labels": [0, -1]}
    assert "task.dataset.labels[1]: got -1" in refused(write(tmp_path, yaml.safe_dump(gates_scenario)))


# ------------------------------------------------------------ 5. infinities and NaN


@pytest.mark.parametrize("old,new,expected", [
    ("lr: 0.1", "lr: .inf", "rules[0].lr: got inf; expected a finite number"),
    ("lr: 0.1", "lr: 1.0e+999", "rules[0].lr: got inf; expected a finite number"),
    ("dataset: and", "dataset: {name: moons, noise: .nan}", "task.dataset.noise: got nan; expected a finite number"),
    ("scale: 0.5", "scale: .inf", "network.init.scale: got inf; expected a finite number"),
    ("train_accuracy: 1.0", "train_accuracy: .nan", "train.stop.train_accuracy: got nan; expected a finite number"),
])
def test_infinities_and_nan_are_refused(tmp_path, gates_text, old, new, expected):
    assert old in gates_text
    msg = refused(write(tmp_path, gates_text.replace(old, new, 1)))
    assert expected in msg
    assert msg.count("\n") == 1  # one problem, one line: no noise from the other branches of a union


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "NaN"])
def test_data_files_must_be_finite(tmp_path, gates_scenario, cell):
    (tmp_path / "d.csv").write_text(f"a,b,label\n0,0,0\n0,{cell},1\n")
    gates_scenario["task"]["dataset"] = {"name": "csv", "path": "d.csv"}
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert f"line 3, column 2: got '{cell}'; expected a finite number" in msg


# ------------------------------------------------------------ 6. duplicate keys


def test_a_duplicated_block_is_refused_with_both_lines(tmp_path, gates_text):
    text = gates_text + "train: {epochs: 500}\n"
    first = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("train:"))
    last = len(text.splitlines())
    msg = refused(write(tmp_path, text))
    assert f"line {last}, column 1: key 'train' is given twice in one mapping (lines {first} and {last})" in msg


def test_nested_duplicates(tmp_path, gates_text):
    old = "- rule: perceptron\n  lr: 0.1"
    assert old in gates_text
    msg = refused(write(tmp_path, gates_text.replace(old, "- {rule: perceptron, lr: 0.1, lr: 0.2}")))
    assert "key 'lr' is given twice in one mapping (both on line" in msg


def test_merge_keys_may_be_overridden(tmp_path, gates_text):
    """`<<: *defaults` merges keys that the keys beside it override: that is what it is for, not a duplicate."""
    old = "- rule: perceptron\n  lr: 0.1"
    text = gates_text.replace(old, "- &p {rule: perceptron, lr: 0.1}\n- <<: *p\n  label: p2\n  lr: 0.3")
    raw = read_yaml(write(tmp_path, text))
    assert raw["rules"][1] == {"rule": "perceptron", "lr": 0.3, "label": "p2"}


def test_keys_must_be_text(tmp_path, gates_text):
    assert "key 'on' is read as the boolean true" in refused(write(tmp_path, gates_text + "on: 1\n"))
    assert "key '3' is read as a number" in refused(write(tmp_path, gates_text + "3: x\n"))


def test_set_values_go_through_the_same_reader(tmp_path, gates_text):
    path = write(tmp_path, gates_text)
    msg = refused(path, "--set", "train={epochs: 1, epochs: 2}")
    assert "error: --set: train: in the value: line 1, column 13: key 'epochs' is given twice" in msg
    assert "repeats: got true; expected a number, not a boolean" in refused(path, "--set", "repeats=yes")
    assert "--set: Rules: no such list in the scenario; did you mean 'rules'?" in refused(path, "--set", "Rules[0].lr=1")


# ------------------------------------------------------------ 7. huge counts, checked before anything is allocated


def test_huge_repeats(tmp_path, gates_text):
    msg = refused(write(tmp_path, gates_text.replace("repeats: 2", "repeats: 1000000000000")))
    assert "repeats: got 10^12; 2 rules × 10^12 seeds = 2×10^12 runs, more than the 10^6" in msg
    assert "repeats: got 10^12" in refused(write(tmp_path, gates_text), "--repeats", str(10 ** 12))


def test_huge_datasets_are_not_generated(tmp_path, gates_scenario, monkeypatch):
    import dataclasses

    from rulelab.data.datasets import DATASETS

    def never(*args):
        raise AssertionError("validation generated the dataset")

    monkeypatch.setitem(DATASETS, "moons", dataclasses.replace(DATASETS["moons"], make=never))
    gates_scenario["task"]["dataset"] = {"name": "moons", "n_samples": 10 ** 12}
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "task.dataset: the dataset would take 24 TB (10^12 rows × 2 features, float64); this machine has" in msg
    gates_scenario["task"]["dataset"] = {"name": "moons", "n_samples": 300}
    gates_scenario["network"]["layers"] = [2, 1]
    assert validate(write(tmp_path, yaml.safe_dump(gates_scenario)))[0] == 0  # valid, and still not generated


def test_huge_networks_and_populations(tmp_path, gates_scenario):
    gates_scenario["network"]["layers"] = [2, 10 ** 9, 10 ** 9, 1]
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "network.layers: 10^18 parameters and 2×10^9 units would take 8 EB (float64); this machine has" in msg
    gates_scenario["network"] = {"layers": [2, 1], "activation": "sigmoid"}
    gates_scenario["rules"] = [{"rule": "openai_es", "population": 10 ** 15}]
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "rules[0]: one run of rule 'openai_es' would take 24 PB (3 parameters × 10^15 (population)" in msg


@pytest.mark.parametrize("shape", ["gates", "blobs", "moons", "parity", "random_patterns", "letters", "gaussian",
                                   "table", "digits", "playground"])
def test_dataset_shapes_match_the_generated_data(shape):
    """Validation describes a dataset from its options: the description must be what `make` builds."""
    from rulelab.data.datasets import DATASETS, DataShape

    cases = {
        "gates": [("xor", {}), ("and", {"encoding": "bipolar"})],
        "blobs": [("blobs", {"n_samples": 7, "centers": 3, "n_features": 4})],
        "moons": [("moons", {"n_samples": 9}), ("circles", {"n_samples": 4}), ("spiral", {"n_samples": 11})],
        "parity": [("parity", {"n_bits": 5, "encoding": "bipolar"})],
        "random_patterns": [("random_patterns", {"n_patterns": 3, "length": 40, "n_classes": 4}),
                            ("random_patterns", {"encoding": "binary"})],
        "letters": [("letters", {"letters": "AXO"})],
        "gaussian": [("gaussian", {"n_samples": 5, "variances": [1.0, 2.0, 0.0]})],
        "table": [("table", {"inputs": [[0, 1], [1, 0.5]], "targets": [[1.0], [2.0]]}),
                  ("table", {"inputs": [[1, -1], [-1, -1]], "labels": [2, 0]})],
        "digits": [("digits", {"scale": False})],
        "playground": [("playground_xor", {"n_samples": 30, "features": ["x1", "x1_squared", "sin_x2"]}),
                       ("playground_spiral", {}), ("playground_plane", {"n_samples": 40, "features": ["x2"]}),
                       ("playground_multi_gauss", {"n_samples": 7})],
    }[shape]
    for name, options in cases:
        info = DATASETS[name]
        opts = info.Options(**options)
        described = info.shape(opts)
        made = DataShape.of(info.make(opts, np.random.default_rng(0), Path(".")))
        assert (described.n_rows, described.n_features, described.n_classes, described.has_labels,
                described.n_targets, described.image_shape) == (
            made.n_rows, made.n_features, made.n_classes, made.has_labels, made.n_targets, made.image_shape), name
        if described.values is not None:  # the values the data can take; a small sample may show fewer
            assert set(made.values) <= set(described.values), name
        else:
            assert made.values is None or name == "table", name


def test_huge_sweep_grids_are_counted_before_they_are_built(tmp_path, gates_scenario):
    from rulelab.run.sweep import load_sweep

    gates_scenario["sweep"] = {"grid": {"rules[0].lr": [0.1 * k for k in range(1, 101)],
                                        "train.epochs": list(range(1, 101)), "seed": list(range(100)),
                                        "train.batch_size": list(range(1, 101))}}
    path = write(tmp_path, yaml.safe_dump(gates_scenario))
    start = time.perf_counter()
    with pytest.raises(ScenarioError, match=r"sweep: 100 × 100 × 100 × 100 = 10\^8 points; at most 10000"):
        load_sweep(path)
    assert time.perf_counter() - start < 2
    # a seeded sample of a huge grid draws its points without building the grid
    gates_scenario["sweep"]["random"] = {"samples": 3, "seed": 1}
    sweep = load_sweep(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert len(sweep.points) == 3


def test_sampled_sweep_points_are_the_ones_drawn_before(tmp_path):
    """Drawing points by index gives the very points the old code took from the built grid."""
    from rulelab.run.sweep import SweepConfig, _grid_points

    config = SweepConfig.model_validate({"grid": {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.1, 0.2, 0.3, 0.4]},
                                         "random": {"samples": 5, "seed": 7}})
    keys = list(config.grid)
    combos = list(itertools.product(*(config.grid[k] for k in keys)))
    chosen = sorted(np.random.default_rng(7).choice(len(combos), 5, replace=False).tolist())
    assert _grid_points(config, keys, "s") == [combos[i] for i in chosen]


# ------------------------------------------------------------ 8. alias bombs and oversized files


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_once(tmp_path, gates_text):
    path = write(tmp_path, billion_laughs() + gates_text)
    start = time.perf_counter()
    msg = refused(path)
    assert time.perf_counter() - start < 2
    assert "line 5, column 5: aliases expand this to more than 20000 values" in msg  # a4: 9^5 values


def test_alias_bombs_in_a_set_value(tmp_path, gates_text):
    path = write(tmp_path, gates_text)
    levels = ["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]"
                                                   for i in range(1, 10)]
    msg = refused(path, "--set", f"rules[0].lr=[{', '.join(levels)}]")
    assert "--set: rules[0].lr: in the value: line 1, column" in msg and "aliases expand" in msg
    # a small expansion is fine YAML, and the value is shown bounded, never expanded in full
    small = "[&a [1, 1, 1, 1, 1, 1, 1, 1], " + ", ".join(["[" + ", ".join(["*a"] * 8) + "]"] * 8) + "]"
    msg = refused(path, "--set", f"rules[0].lr={small}")
    assert "rules[0].lr: got [[1, 1, 1, 1, 1, 1, ...], [[...], [...]," in msg and len(msg) < 500


def test_many_tasks_over_a_large_shared_part_are_an_expansion_too(tmp_path, gates_scenario):
    del gates_scenario["task"]
    gates_scenario["description"] = "x" * 100
    gates_scenario["tasks"] = [{"name": f"t{i}", "task": {"dataset": "and"}} for i in range(1000)]
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "tasks: 1000 tasks × " in msg and "more than the 20000 a scenario may expand to" in msg


def test_a_sweep_over_a_large_scenario_is_bounded(tmp_path, gates_scenario):
    from rulelab.run.sweep import load_sweep

    gates_scenario["task"]["dataset"] = {"name": "table", "inputs": [[0, 1]] * 4000, "labels": [0, 1] * 2000}
    gates_scenario["network"]["layers"] = [2, 1]
    gates_scenario["sweep"] = {"grid": {"rules[0].lr": [0.1 * k for k in range(1, 101)],
                                        "train.epochs": list(range(1, 11))}}
    with pytest.raises(ScenarioError, match=r"sweep: 1000 points × \d+ values of the scenario = .* more than the "
                                            r"5×10\^6 a sweep may hold"):
        load_sweep(write(tmp_path, yaml.safe_dump(gates_scenario)))


@pytest.mark.parametrize("make_text,expected", [
    (lambda base: "a: &x [*x]\n" + base, "an alias refers to a collection that contains it"),
    (lambda base: "deep: " + "[" * 200 + "]" * 200 + "\n" + base, "nested more than 32 levels deep"),
    (lambda base: "# " + "x" * (2 << 20) + "\n" + base, "the file is larger than 1 MB"),
    (lambda base: "values: [" + ",".join(["0"] * 60_000) + "]\n" + base, "more than 20000 values"),
])
def test_oversized_documents(tmp_path, gates_text, make_text, expected):
    assert expected in refused(write(tmp_path, make_text(gates_text)))


# ------------------------------------------------------------ messages never repr an unbounded value


@pytest.mark.parametrize("old,new", [
    ("lr: 0.1", "lr: [" + ", ".join(["1"] * 40_000) + "]"),
    ("rule: perceptron", "rule: " + "x" * 500_000),
    ("dataset: and", "dataset: " + "m" * 500_000),
    ("lr: 0.1", "lr: '" + "9" * 500_000 + "'"),
])
def test_messages_stay_short(tmp_path, gates_text, old, new):
    msg = refused(write(tmp_path, gates_text.replace(old, new, 1)))
    assert len(msg) < 1500


def test_a_long_list_of_problems_is_cut(tmp_path, gates_scenario):
    gates_scenario["network"]["layers"] = [True] * 500
    msg = refused(write(tmp_path, yaml.safe_dump(gates_scenario)))
    assert "… and 480 more problems" in msg and msg.count("\n") == 21


# ------------------------------------------------------------ last resort: no traceback, ever


def test_internal_errors_print_a_short_message_and_exit_1(tmp_path, gates_text, monkeypatch):
    import rulelab.scenario

    def broken(*args, **kwargs):
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr(rulelab.scenario, "load_scenarios", broken)
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, gates_text))], catch_exceptions=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: internal error (TypeError: unhashable type: 'list')" in result.output
    assert "This is a bug in rulelab" in result.output and "please report it" in result.output
    assert "rulelab --debug" in result.output
    debug = CliRunner().invoke(main, ["--debug", "validate", str(write(tmp_path, gates_text))])
    assert debug.exit_code == 1 and isinstance(debug.exception, TypeError)  # raised as it is: a traceback


def test_debug_flag_prints_the_traceback(tmp_path, gates_text):
    path = write(tmp_path, gates_text)
    code = ("import sys, rulelab.scenario as s\n"
            "def broken(*a, **k): raise TypeError('boom')\n"
            "s.load_scenarios = broken\n"
            "from rulelab.cli import main\n"
            "sys.argv = ['rulelab'] + sys.argv[1:]\n"
            "main()\n")
    plain = subprocess.run([sys.executable, "-c", code, "validate", str(path)], capture_output=True, text=True,
                           timeout=600)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr and "internal error (TypeError: boom)" in plain.stderr
    debug = subprocess.run([sys.executable, "-c", code, "--debug", "validate", str(path)], capture_output=True,
                           text=True, timeout=600)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "TypeError: boom" in debug.stderr


@pytest.mark.parametrize("error,code,expected", [
    (KeyboardInterrupt(), 130, "interrupted"),
    (MemoryError(), 1, "error: rulelab ran out of memory"),
])
def test_interrupts_and_memory_errors_outside_a_run(tmp_path, gates_text, monkeypatch, error, code, expected):
    import rulelab.scenario

    def raise_it(*args, **kwargs):
        raise error

    monkeypatch.setattr(rulelab.scenario, "load_scenarios", raise_it)
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, gates_text))], catch_exceptions=False)
    assert result.exit_code == code and expected in result.output and "Traceback" not in result.output


def test_run_and_sweep_refuse_hostile_files_too(tmp_path, gates_text):
    path = write(tmp_path, billion_laughs() + gates_text)
    for command in ("run", "sweep"):
        result = CliRunner().invoke(main, [command, str(path), "--out", str(tmp_path / command)],
                                    catch_exceptions=False)
        assert result.exit_code == 2 and "aliases expand" in result.output and "Traceback" not in result.output
        assert not (tmp_path / command).exists()


# ------------------------------------------------------------ 11. the default run folder


def test_the_default_run_folder_is_named_after_the_file(tmp_path, gates_scenario, monkeypatch):
    """docs/scenarios.md: the run directory is runs/FILE/, whatever `name:` says."""
    gates_scenario["name"] = "../../escaped name"
    gates_scenario["repeats"] = 1
    gates_scenario["train"]["epochs"] = 1
    gates_scenario["rules"] = gates_scenario["rules"][:1]
    path = write(tmp_path, yaml.safe_dump(gates_scenario), "my-gates.yaml")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", str(path), "--quiet", "--no-plots"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "my-gates" / "runs.csv").exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["my-gates"]

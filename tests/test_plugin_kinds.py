"""Plug-ins add task kinds as they add rules: from a plug-in file (docs/examples/label_noise.py) or an installed
package's ``rulelab.task_kinds`` entry point; a kind's own settings are checked under ``task.options``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rulelab.build import build_plan, prepare_data, split_data
from rulelab.cli import main
from rulelab.registry import RegistryError, load_plugin
from rulelab.run.runner import run_scenario
from rulelab.scenario import ScenarioError, load_scenario, validate_scenario
from rulelab.tasks import kinds
from rulelab.testing import TaskKindCheckError, check_task_kind, measured_numbers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "label_noise.yaml"
PLUGIN = ROOT / "docs" / "examples" / "label_noise.py"


def _scenario(**task) -> dict:
    return {"name": "x", "plugins": [str(PLUGIN)], "task": {"kind": "label_noise", "dataset": "moons", **task},
            "network": {"layers": [2, 4, 1], "activation": "tanh", "output_activation": "sigmoid"},
            "train": {"epochs": 3}, "rules": [{"rule": "backprop", "lr": 0.1}]}


def test_a_plug_in_file_kind_flips_the_training_labels_it_declares_and_keeps_the_test_labels():
    scenario = load_scenario(EXAMPLE, repeats=1)
    assert scenario.task.kind == "label_noise" and scenario.task.options == {"share": 0.3}
    assert kinds.task_kind("label_noise").source == f"file {PLUGIN}"
    clean = split_data(scenario, 0).split
    plan = build_plan(scenario, scenario.rules[0], 0, prepare_data(scenario, 0))
    noisy = plan.sets.labels[0]
    # Two classes: a hit label becomes the other class; the hits are the stream [seed, 0, 1]'s draws below 0.3.
    hit = np.random.default_rng([0, 0, 1]).random(len(clean.y_train)) < 0.3
    np.testing.assert_array_equal(noisy, np.where(hit, 1 - clean.y_train, clean.y_train))
    assert 0 < hit.sum() < len(hit)
    np.testing.assert_array_equal(plan.sets.labels[1], clean.y_test)  # tested on the true labels
    np.testing.assert_array_equal(plan.sets.X[0], clean.X_train)  # the same split as classification's


def test_no_noise_gives_classification_numbers_bit_for_bit():
    noiseless = run_scenario(load_scenario(EXAMPLE, overrides=["task.options.share=0.0"], repeats=1))
    plain = run_scenario(load_scenario(EXAMPLE, overrides=["task.kind=classification", "task.options=null"],
                                       repeats=1))
    assert [r.status for r in noiseless] == [r.status for r in plain] == ["completed", "not_converged"]
    for a, b in zip(noiseless, plain):
        (keys_a, values_a), (keys_b, values_b) = measured_numbers(a), measured_numbers(b)
        assert keys_a == keys_b and len(keys_a) > 100
        np.testing.assert_array_equal(values_a, values_b)
        np.testing.assert_array_equal(a.params, b.params)


def test_task_options_are_checked_against_the_kinds_own_model():
    with pytest.raises(ScenarioError) as bad:
        validate_scenario(_scenario(options={"share": 1.5, "shares": 2}), "f.yaml")
    text = str(bad.value)
    assert "task.options.share: got 1.5; input should be less than 1" in text
    assert "task.options.shares: unknown key 'shares'" in text
    with pytest.raises(ScenarioError, match="task.options: task kind 'classification' takes no options"):
        validate_scenario({**_scenario(options={"share": 0.1}), "task": {"kind": "classification", "dataset": "moons",
                                                                         "options": {"share": 0.1}}}, "f.yaml")
    assert validate_scenario(_scenario(), "f.yaml").task.options == {"share": 0.2}  # the default, written out


def test_an_unknown_kind_lists_the_plug_ins_kinds_too():
    load_plugin(str(PLUGIN))
    with pytest.raises(ScenarioError) as bad:
        validate_scenario({**_scenario(), "task": {"kind": "label_nois", "dataset": "moons"}}, "f.yaml")
    assert "task.kind: got 'label_nois'; expected one of 'classification', 'regression'" in str(bad.value)
    assert "or 'label_noise'; did you mean 'label_noise'?" in str(bad.value)


def test_kinds_only_plug_ins_load_and_clashing_names_are_refused(tmp_path):
    only = tmp_path / "only_a_kind.py"
    only.write_text("from rulelab.tasks.kinds import Regression\n\n"
                    "class Smooth(Regression):\n    name = 'smooth_regression'\n    summary = 'regression, smoothly'\n")
    assert load_plugin(str(only)) == []
    assert kinds.task_kind("smooth_regression").source == f"file {only}"
    clash = tmp_path / "clashing_kind.py"
    clash.write_text("from rulelab.tasks.kinds import Classification\n\n"
                     "class Mine(Classification):\n    name = 'classification'\n    summary = 'mine'\n")
    with pytest.raises(RegistryError, match="two task kinds are named 'classification': one from built-in, "
                                            f"one from file {clash}; rename one of them"):
        load_plugin(str(clash))
    assert type(kinds.task_kind("classification")) is kinds.Classification
    empty = tmp_path / "nothing_here.py"
    empty.write_text("X = 1\n")
    with pytest.raises(RegistryError, match="defines no Rule subclass with a name \\(nor a TaskKind\\)"):
        load_plugin(str(empty))


def _installed_package(folder: Path, monkeypatch, name: str, entry_point: str) -> None:
    """A distribution on sys.path declaring one rulelab.task_kinds entry point, as pip would leave it installed;
    the registry as if its entry points were not read yet (restored after the test)."""
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[rulelab.task_kinds]\n{entry_point}\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(kinds, "TASK_KINDS", dict(kinds.TASK_KINDS))
    monkeypatch.setattr(kinds, "_ENTRY_POINTS_SCANNED", False)


def test_an_installed_package_adds_a_kind_through_its_entry_point(tmp_path, monkeypatch):
    (tmp_path / "fake_kinds_pkg.py").write_text(
        "from rulelab.tasks.kinds import Classification\n\n"
        "class Curriculum(Classification):\n    name = 'curriculum'\n    summary = 'classification, easy first'\n")
    _installed_package(tmp_path, monkeypatch, "rulelab-fake-kinds", "curriculum = fake_kinds_pkg:Curriculum")
    scenario = validate_scenario({"name": "x", "task": {"kind": "curriculum", "dataset": "xor"},
                                  "network": {"layers": [2, 1], "activation": "step"},
                                  "rules": [{"rule": "perceptron"}]})
    assert kinds.kind_of(scenario.task).source == "package rulelab-fake-kinds"
    assert scenario.metrics == ("train_accuracy", "train_loss")  # classification's defaults (xor: no test share)


def test_rulelab_kinds_lists_every_kind_with_its_options_and_origin():
    result = CliRunner().invoke(main, ["kinds", "--plugin", str(PLUGIN)], terminal_width=400)
    assert result.exit_code == 0, result.output
    rows: dict[str, list[str]] = {}  # name → its cells, a long cell's folded lines joined
    for line in result.output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) != 4:
            continue
        if cells[0]:
            name = cells[0]
            rows[name] = cells
        else:
            rows[name] = [before + more for before, more in zip(rows[name], cells)]
    assert rows["label_noise"][2] == "share = 0.2"
    assert rows["label_noise"][3].replace(" ", "") == f"file{PLUGIN}".replace(" ", "")  # however the path folds
    assert rows["classification"][3] == "built-in" and "sequence" in rows
    missing = CliRunner().invoke(main, ["kinds", "--plugin", "no_such_file.py"])
    assert missing.exit_code == 2 and "plug-in no_such_file.py: file not found" in missing.output


def test_a_run_folder_names_its_plug_in_files_by_path_so_that_plot_finds_them(tmp_path):
    """`rulelab plot RUN` (and `weights_from`) validate the saved scenario.yaml from the run folder: a plug-in named
    relative to the scenario file was not found there, and the figures that need the scenario were left out."""
    for scenario_file, plugin in ((EXAMPLE, PLUGIN), (ROOT / "docs" / "examples" / "margin.yaml",
                                                      ROOT / "docs" / "examples" / "margin_perceptron.py")):
        scenario = load_scenario(scenario_file, repeats=1)
        assert scenario.resolved["plugins"] == [str(plugin)]
        saved = validate_scenario(dict(scenario.resolved), str(tmp_path / "scenario.yaml"), tmp_path)
        assert saved.resolved == scenario.resolved  # the same scenario, every default written out
        assert [s.rule for s in saved.rules] == [s.rule for s in scenario.rules]


BROKEN = '''from rulelab.tasks.kinds import Classification


class Fragile(Classification):
    name = "fragile_{tag}"
    summary = "fails for seed 1"

    def prepare_data(self, scenario, seed):
        if "{hook}" == "prepare_data" and seed == 1:
            raise ValueError("no data for seed 1")
        return None

    def after_training(self, plan, record):
        if "{hook}" == "after_training" and plan.seed == 1:
            raise RuntimeError("cannot measure seed 1")
'''


@pytest.mark.parametrize("hook, message", [
    ("prepare_data", "preparing the data of seed 1 failed (ValueError: no data for seed 1)"),
    ("after_training", "RuntimeError: cannot measure seed 1"),
])
def test_a_failing_plug_in_kind_fails_its_seed_names_itself_and_keeps_the_other_seeds(tmp_path, hook, message):
    from rulelab.run.executors import run_task

    plugin = tmp_path / f"fragile_{hook}.py"
    plugin.write_text(BROKEN.format(tag=hook, hook=hook))
    scenario = validate_scenario({"name": "x", "plugins": [str(plugin)], "seed": 0, "repeats": 3,
                                  "task": {"kind": f"fragile_{hook}", "dataset": "xor"},
                                  "network": {"layers": [2, 1], "activation": "sigmoid"}, "train": {"epochs": 2},
                                  "rules": [{"rule": "backprop"}]}, str(tmp_path / "f.yaml"), tmp_path)
    records = run_scenario(scenario)
    assert [r.status for r in records] == ["completed", "failed", "completed"]
    assert records[1].message == f"task kind 'fragile_{hook}' from file {plugin}: {message}"
    assert records[1].rows[-1][1] == "error"
    assert all(np.isfinite(records[i].final("train_loss")) for i in (0, 2))
    in_a_worker = run_task(scenario.resolved, scenario.source, str(tmp_path), 0, 1)  # `--jobs N` takes this road
    assert (in_a_worker.status, in_a_worker.message) == ("failed", records[1].message)


def test_the_contract_kit_passes_the_example_kind_and_names_what_a_broken_one_breaks(tmp_path):
    load_plugin(str(PLUGIN))
    import label_noise  # the plug-in file's module, imported under its own name

    assert check_task_kind(label_noise.LabelNoise, str(EXAMPLE)) == [
        "declaration", "validates", "reproducible data", "consistent data", "runs"]
    unseeded = tmp_path / "unseeded_kind.py"
    unseeded.write_text(
        "from dataclasses import replace\nimport numpy as np\nfrom rulelab.build import split_data\n"
        "from rulelab.tasks.kinds import Classification\n\n"
        "class Unseeded(Classification):\n    name = 'unseeded'\n    summary = 'labels shuffled by the global generator'\n\n"
        "    def prepare_data(self, scenario, seed):\n        data = split_data(scenario, seed)\n"
        "        return replace(data, split=replace(data.split, y_train=np.random.permutation(data.split.y_train)))\n")
    assert load_plugin(str(unseeded)) == []  # a kind, no rule
    with pytest.raises(TaskKindCheckError, match="check 'reproducible data' failed: split.y_train differs between "
                                                 "two preparations of seed 0"):
        check_task_kind(type(kinds.task_kind("unseeded")), {**_scenario(), "plugins": [str(unseeded)],
                                         "task": {"kind": "unseeded", "dataset": "moons"}})
    with pytest.raises(TaskKindCheckError, match="check 'declaration' failed: Nameless needs its own `name`"):
        check_task_kind(type("Nameless", (kinds.Classification,), {"summary": "x"}), _scenario())


def test_a_broken_kind_package_is_named_at_every_validation(tmp_path, monkeypatch):
    _installed_package(tmp_path, monkeypatch, "rulelab-broken-kinds", "broken = no_such_module_here:Broken")
    for _ in range(2):  # not only the first time
        with pytest.raises(ScenarioError, match="task.kind: task kind 'broken' from package rulelab-broken-kinds "
                                                "failed to import: ModuleNotFoundError"):
            validate_scenario(_scenario())

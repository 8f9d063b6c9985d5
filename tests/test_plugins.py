"""The example plug-in from docs/writing-a-rule.md, loaded the way a user loads it."""

from __future__ import annotations

import numpy as np
import pytest

from rulelab.core.engine import train_epoch
from rulelab.core.network import Network
from rulelab.registry import RegistryError, available_rules, load_plugin
from rulelab.scenario import ScenarioError, load_scenario
from tests.conftest import ROOT

EXAMPLE = ROOT / "docs" / "examples" / "margin_perceptron.py"


def test_example_rule_update_by_hand():
    (Margin,) = load_plugin(str(EXAMPLE))
    net = Network((2, 1), ("sign",))
    params = np.zeros(3)
    rule = Margin(lr=0.1, margin=1.0)
    state = rule.init_state(net, np.random.default_rng(0))
    X, Y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    assert train_epoch(Margin.update, params, net.layout, net.act_args, state, rule.params.pack(), X, Y, 1) == 1
    np.testing.assert_allclose(params, [0.1, 0.2, 0.1])
    # t·net = 0.1 + 0.4 + 0.1 = 0.6 ≤ κ = 1: still inside the margin, so it updates again.
    train_epoch(Margin.update, params, net.layout, net.act_args, state, rule.params.pack(), X, Y, 1)
    np.testing.assert_allclose(params, [0.2, 0.4, 0.2])


def test_example_scenario_runs_with_its_plugin():
    from rulelab.run.runner import run_scenario

    scenario = load_scenario(ROOT / "docs" / "examples" / "margin.yaml", repeats=1)
    records = run_scenario(scenario)
    assert [r.rule for r in records] == ["perceptron", "margin-perceptron"]
    assert 0.9 <= records[1].final("test_accuracy") <= 1.0


def test_plugin_listed_with_its_source():
    rules = available_rules([str(EXAMPLE)])
    assert rules["margin-perceptron"].source == f"file {EXAMPLE}"
    assert rules["perceptron"].source == "built-in"


def test_duplicate_rule_names_name_both_sources(tmp_path):
    clash = tmp_path / "clash.py"
    clash.write_text(
        "from rulelab.rules.perceptron import Perceptron\n"
        "class Again(Perceptron):\n    name = 'perceptron'\n")
    with pytest.raises(RegistryError, match=f"two rules are named 'perceptron': one from built-in, one from file {clash}"):
        available_rules([str(clash)])


def test_plugin_that_fails_to_import(tmp_path, write_scenario, gates_scenario):
    bad = tmp_path / "bad.py"
    bad.write_text("import not_a_module_anywhere\n")
    gates_scenario["plugins"] = ["bad.py"]
    with pytest.raises(ScenarioError, match=r"plugins: plug-in .*bad.py failed to import: ModuleNotFoundError"):
        load_scenario(write_scenario(gates_scenario))


BROKEN_KERNEL = """
from numba import njit
from rulelab.rule import Field, HyperParameters, Needs, Rule


class P(HyperParameters):
    lr: float = Field(0.1, gt=0)


@njit(cache=True)
def update(params, layout, act_args, state, hp, X, Y, lo, hi):
    '''Δw = boom'''
    {body}
    return 0.0


class Broken(Rule):
    name = "broken"
    family = "hebbian"
    equation = "Δw = boom"
    needs = Needs()
    Params = {params}
    update = staticmethod(update)
"""


def _scenario_with(write_scenario, tmp_path, body, params="P", stem="broken_rule"):
    (tmp_path / f"{stem}.py").write_text(BROKEN_KERNEL.format(body=body, params=params))
    return write_scenario({
        "name": "bad-plugin", "repeats": 2, "plugins": [f"{stem}.py"],
        "task": {"kind": "unsupervised", "dataset": {"name": "gaussian", "n_samples": 50}},
        "network": {"layers": [5, 1], "activation": "linear"}, "train": {"epochs": 2},
        "rules": [{"rule": "oja", "lr": 0.01}, {"rule": "broken"}],
    })


@pytest.mark.parametrize("body,words", [
    ("if X[lo, 0] < 1e300:\n        raise ValueError('the kernel gave up')", "ValueError: the kernel gave up"),
    ("x = {'a': 1}.items().mapping", "the kernel failed to compile"),
])
def test_bad_kernels_fail_their_runs_and_keep_the_others(write_scenario, tmp_path, body, words):
    from rulelab.run.runner import run_scenario

    stem = "raising_rule" if "raise" in body else "uncompilable_rule"
    scenario = load_scenario(_scenario_with(write_scenario, tmp_path, body, stem=stem))
    records = run_scenario(scenario)
    assert [(r.label, r.status) for r in records] == [("oja", "completed"), ("broken", "failed")] * 2
    message = records[1].message
    assert message.startswith(f"rule 'broken' from file {tmp_path / f'{stem}.py'}:") and words in message


def test_invalid_hyperparameter_defaults_are_reported_with_the_file(write_scenario, tmp_path):
    bad_params = "type('Bad', (HyperParameters,), {'__annotations__': {'lr': float}, 'lr': Field(-1.0, gt=0)})"
    path = _scenario_with(write_scenario, tmp_path, "pass", params=bad_params, stem="bad_defaults_rule")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert (f"rules[1].rule: rule 'broken' from file {tmp_path / 'bad_defaults_rule.py'} declares invalid "
            "hyperparameter defaults (lr: Input should be greater than 0)") in info.value.format()


def test_new_rule_scaffolds_pass_their_own_tests(tmp_path):
    """`rulelab new-rule` for every family: the generated test passes as generated."""
    import subprocess
    import sys

    from click.testing import CliRunner

    from rulelab.cli import main

    for family in ("hebbian", "error-correcting", "gradient", "evolutionary", "associative"):
        result = CliRunner().invoke(main, ["new-rule", f"new-{family}", "--family", family, "--dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
    again = CliRunner().invoke(main, ["new-rule", "new-hebbian", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "would overwrite" in again.output
    bad = CliRunner().invoke(main, ["new-rule", "9lives", "--dir", str(tmp_path)])
    assert bad.exit_code == 2 and "starting with a letter" in bad.output
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "10 passed" in run.stdout


def test_bcm_example_by_hand_and_contract():
    from rulelab.testing import check_rule

    (BCM,) = load_plugin(str(ROOT / "docs" / "examples" / "bcm.py"))
    check_rule(BCM)
    net = Network((2, 1), ("linear",))
    params = np.array([1.0, 0.5, 0.0])
    rule = BCM(lr=0.1, tau=10.0)
    state = rule.init_state(net, np.random.default_rng(0))  # θ = 1
    X, Y = np.array([[2.0, 0.0]]), np.zeros((1, 0))
    train_epoch(BCM.update, params, net.layout, net.act_args, state, rule.params.pack(), X, Y, 1)
    # y = 2 > θ = 1: potentiation Δw = 0.1 · 2 · (2 − 1) · x = [0.4, 0];  θ ← 1 + (4 − 1)/10
    np.testing.assert_allclose(params, [1.4, 0.5, 0.0])
    assert state[0] == pytest.approx(1.3)


def test_installed_plugin_package_is_found_through_its_entry_point():
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("rulelab-antihebb")
    except PackageNotFoundError:
        pytest.skip("examples/plugin-package is not installed here (.ci/run installs it, so CI runs this)")
    from rulelab.run.runner import run_scenario
    from rulelab.testing import check_rule

    rule = available_rules()["anti_hebbian"]
    assert rule.source == "package rulelab-antihebb"
    check_rule(rule)
    records = run_scenario(load_scenario(ROOT / "examples" / "plugin-package" / "scenario.yaml", repeats=1))
    anti = next(r for r in records if r.label == "anti_hebbian")
    assert anti.status == "completed" and anti.final("pc_angle_0") > 80  # the minor component


def test_the_uninstalled_fallback_lists_every_built_in_entry_point():
    """A source tree run without installing finds the same built-in rules as an installed one."""
    import tomllib

    from rulelab.registry import _BUILTIN_FALLBACK

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["rulelab.rules"]
    built_in = {name: target for name, target in declared.items() if target.startswith("rulelab.rules.")}
    assert _BUILTIN_FALLBACK == built_in


def test_kernels_read_hyperparameters_by_named_slot_not_by_position():
    """Issue 12: hp[P.lr] with P = Params.slots(), never hp[0] — in every built-in rule, the compiled core, the
    new-rule templates and the documented examples (a reordered field must not shift another's value)."""
    import re

    sources = [*(ROOT / "rules").glob("*.py"), *(ROOT / "simulator").rglob("*.py"),
               *(ROOT / "docs" / "examples").glob("*.py"), ROOT / "docs" / "writing-a-rule.md"]
    by_position = re.compile(r"\bhp\[\d")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in sources
                 for n, line in enumerate(path.read_text().splitlines(), 1) if by_position.search(line)]
    assert offenders == []
    from rulelab.core import gradient as G
    from rulelab.core.gradient import GradientParams

    assert (G.P.lr, G.P.update_biases) == (GradientParams.index("lr"), GradientParams.index("update_biases"))

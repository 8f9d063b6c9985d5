"""Property-based fuzzing of loading, `--set` overrides and validation (issue 15).

Shipped scenarios are mutated — values replaced by hostile ones (booleans, huge or negative
integers, infinities, NaN, odd text, nested lists and mappings), keys deleted, misspelt or
capitalised keys added, overrides applied as `--set PATH=VALUE` text, and the YAML text
itself garbled — and every mutant must end one of two ways:

- valid: then the scenario as a run saves it (scenario.yaml, defaults filled in) validates
  again to the very same thing;
- refused: a ScenarioError whose every problem names a key path (or, for text that is not
  YAML, a line) in a bounded message — the CLI then exits 2.

Nothing else: no other exception, no traceback.  A few thousand mutants per run, in seconds.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulelab.cli import main
from rulelab.scenario import ScenarioError, apply_override, read_yaml, split_tasks, validate_scenario
from rulelab.scenario.keypaths import format_key_path
from rulelab.scenario.yaml_reader import dump_yaml, parse_yaml
from tests.conftest import ROOT

SCENARIOS = ROOT / "scenarios"
BASES = ["logic-gates", "notes-gates", "xor", "classic", "digits", "autoencoder", "adversarial",
         "activation-maximisation", "hopfield-letters", "hopfield-capacity", "oja-pca", "hebbian-digits",
         "es-vs-backprop", "backprop-worked-example", "playground", "hopfield-notes", "rnn-bptt"]
RAW = {name: read_yaml(SCENARIOS / f"{name}.yaml") for name in BASES}

# Hypothesis settings shared by the properties: no deadline (the first example imports the
# registry), no example database in the repository.
# CI explores the same 2500 cases on every run (a fresh random failure there would block a landing for a
# bug the change did not make); a local run draws new ones each time.
FUZZ = dict(deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _schema_words() -> list[str]:
    """Every key the schema, the datasets and the rules know, and capitalised and misspelt forms."""
    from pydantic import BaseModel

    from rulelab.data.datasets import DATASETS
    from rulelab.registry import available_rules
    from rulelab.scenario import schema

    words: set[str] = set()
    models = [m for m in vars(schema).values() if isinstance(m, type) and issubclass(m, BaseModel)]
    models += [info.Options for info in DATASETS.values()] + [r.Params for r in available_rules([], ROOT).values()]
    for model in models:
        words.update(model.model_fields)
    words.discard("plugins")  # a plug-in is code that runs: not a thing to fuzz with random names
    return sorted(words | {w.capitalize() for w in words} | {w.upper() for w in words} | {w[:-1] for w in words})


WORDS = _schema_words()
NAMES = ["perceptron", "delta", "backprop", "openai_es", "storkey", "oja", "competitive", "moons", "xor", "digits",
         "letters", "csv", "table", "sigmoid", "softmax", "sign", "step", "glorot", "given", "uniform",
         "association", "autoencoding", "regression", "unsupervised", "adversarial", "float32", "adam", "yes",
         "1e-3", "~nobody/x.csv", "~", "../../../etc/passwd", "/dev/zero", "", "\x00", "Ω", "a" * 300]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(-3, 12), st.integers(), st.sampled_from([2 ** 53 + 1, 2 ** 63, -(2 ** 63) - 1, 10 ** 30]),
    st.floats(-2.0, 2.0), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NAMES), st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) |
                      st.dictionaries(st.sampled_from(WORDS) | st.text(min_size=1, max_size=8), inner, max_size=4),
                      max_leaves=12)


def paths_in(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a raw scenario: mapping keys and list items, at any depth."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append(prefix + (key,))
            found += paths_in(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.append(prefix + (i,))
            found += paths_in(value, prefix + (i,))
    return found


def at(raw: dict, path: tuple) -> Any:
    node = raw
    for token in path:
        node = node[token]
    return node


def tweaked(value: Any) -> st.SearchStrategy:
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(value - 3, value + 3) | st.integers(0, 2 * abs(value) + 2)
    if isinstance(value, float):
        if math.isnan(value):  # an earlier mutation's NaN: no interval around it
            return st.sampled_from([value, 0.0, 1.0])
        return st.floats(0.0, max(2 * abs(value), 1.0)) | st.sampled_from([value / 2, value * 2, 0.0, 1.0])
    if isinstance(value, str):
        return st.sampled_from(NAMES + [value.upper(), value[:-1], value + "x"])
    if isinstance(value, list):
        return st.just(value[:-1]) | st.just(value + value[-1:]) if value else st.just([])
    return st.just(value)


@st.composite
def mutated(draw) -> tuple[dict, list[str]]:
    """A shipped scenario with one to four mutations; also the `--set` assignments to apply to it."""
    raw = copy.deepcopy(RAW[draw(st.sampled_from(BASES))])
    overrides: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        paths = paths_in(raw)
        action = draw(st.sampled_from(["tweak", "tweak", "replace", "delete", "add", "set", "file"]))
        if action == "add":
            mapping = at(raw, draw(st.sampled_from([()] + [p for p in paths if isinstance(at(raw, p), dict)])))
            mapping[draw(st.sampled_from(WORDS))] = draw(values)
            continue
        if action == "file":  # a dataset or weights from a path: missing, unreadable, a device, a directory
            task = raw.setdefault("task", {})
            if isinstance(task, dict):
                target = draw(st.sampled_from(["csv", "npz", "weights"]))
                where = draw(st.sampled_from(NAMES[-9:] + ["scenarios", "classic.yaml", "."]))
                if target == "weights":
                    task["weights_from"] = where
                else:
                    task["dataset"] = {"name": target, "path": where}
            continue
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        node, key = at(raw, path[:-1]), path[-1]
        if action == "delete":
            del node[key]
        elif action == "tweak":  # a value of the same type: often still valid, so both outcomes are tested
            node[key] = draw(tweaked(node[key]))
        elif action == "replace":
            node[key] = draw(values)
        else:  # the same, as a command-line override (PATH=VALUE, the value as YAML text)
            text = yaml.safe_dump(draw(values), default_flow_style=True, width=math.inf)
            overrides.append(f"{format_key_path(path)}={text.removesuffix(chr(10) + '...' + chr(10)).strip()}")
    raw.pop("plugins", None)
    return raw, overrides


def check_outcome(raw: dict, overrides: list[str]) -> str:
    """Validate as `rulelab validate` does; assert the property; return 'valid' or 'refused'."""
    try:
        for assignment in overrides:
            apply_override(raw, assignment)
        scenarios = [validate_scenario(part, "fuzz.yaml", SCENARIOS) for _, part in split_tasks(raw, "fuzz.yaml")]
    except ScenarioError as exc:
        assert exc.problems
        for path, message in exc.problems:
            assert path, f"a problem without a key path: {message}"
            assert len(path) < 300 and len(message) < 1500, (path, message[:300])
        assert len(exc.format()) < 30_000
        return "refused"
    for scenario in scenarios:
        again = validate_scenario(parse_yaml(scenario.as_yaml()), "scenario.yaml", SCENARIOS)  # as a run saves it
        assert again.resolved == scenario.resolved
    return "valid"


@settings(max_examples=2500, **FUZZ)
@given(mutated())
def test_mutated_scenarios_are_valid_or_refused_with_a_key_path(case):
    raw, overrides = case
    check_outcome(raw, overrides)


@st.composite
def garbled_text(draw) -> bytes:
    """A shipped scenario's text with YAML-significant characters inserted, lines cut, doubled or swapped."""
    text = (SCENARIOS / f"{draw(st.sampled_from(BASES))}.yaml").read_text()
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["insert", "cut", "double", "swap", "indent", "bytes"]))
        if action == "insert":
            at = draw(st.integers(0, len(lines[i])))
            junk = draw(st.text(alphabet=":-[]{},&*!|>'\"#%@`?~ \t\n0123456789eE.aZ<", min_size=1, max_size=6))
            lines[i] = lines[i][:at] + junk + lines[i][at:]
        elif action == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))] + "\n"
        elif action == "double":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "indent":
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
        else:
            lines[i] = lines[i] + draw(st.binary(min_size=1, max_size=4)).decode("latin-1")
    data = "".join(lines).encode("utf-8")
    return data if draw(st.booleans()) else "".join(lines).encode("latin-1", errors="replace")


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@settings(max_examples=1000, **FUZZ)
@given(garbled_text())
def test_garbled_files_are_valid_or_refused_cleanly(scratch, data):
    path = scratch / "fuzz.yaml"
    path.write_bytes(data)
    try:
        raw = read_yaml(path)
    except ScenarioError as exc:  # not YAML, or not a scenario-sized mapping: named with its line
        assert len(exc.problems) == 1 and len(exc.format()) < 1000
        return
    raw.pop("plugins", None)
    check_outcome(raw, [])


@settings(max_examples=250, **FUZZ)
@given(mutated())
def test_the_cli_exits_0_or_2_and_never_prints_a_traceback(scratch, case):
    raw, overrides = case
    path = scratch / "cli.yaml"
    path.write_text(dump_yaml(raw))
    args = ["validate", str(path)] + [arg for assignment in overrides for arg in ("--set", assignment)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code in (0, 2), result.output[-2000:]
    assert "Traceback" not in result.output and "internal error" not in result.output
    if result.exit_code == 2:
        assert result.output.startswith("error: ")


@st.composite
def swept(draw) -> dict:
    """A mutated scenario with a small sweep grid over key paths that exist, or nearly."""
    raw, _ = draw(mutated())
    raw.pop("tasks", None)
    keys = [format_key_path(p) for p in paths_in(raw) if not isinstance(at(raw, p), (dict, list))]
    keys += ["rules[9].lr", "network.layerz[1]", "Train.epochs", "x[0"]
    grid = draw(st.dictionaries(st.sampled_from(keys), st.lists(values, max_size=3), min_size=1, max_size=3))
    raw["sweep"] = {"grid": grid}
    if draw(st.booleans()):
        raw["sweep"]["random"] = {"samples": draw(st.integers(-1, 4) | st.booleans()), "seed": draw(st.integers(0, 3))}
    return raw


@settings(max_examples=200, **FUZZ)
@given(swept())
def test_mutated_sweeps_are_valid_or_refused_with_a_key_path(scratch, raw):
    from rulelab.run.sweep import load_sweep

    path = scratch / "sweep.yaml"
    path.write_text(dump_yaml(raw))
    try:
        sweep = load_sweep(path)
    except ScenarioError as exc:
        assert all(p for p, _ in exc.problems) and len(exc.format()) < 30_000
        return
    for point in sweep.points:
        again = validate_scenario(parse_yaml(point.scenario.as_yaml()), "scenario.yaml", scratch)
        assert again.resolved == point.scenario.resolved

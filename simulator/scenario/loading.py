"""Reading scenario files: YAML, command-line overrides, several tasks in one file."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rulelab.scenario.errors import ScenarioError, did_you_mean, pydantic_problems
from rulelab.scenario.keypaths import KeyPathError, parse_key_path, set_key_path
from rulelab.scenario.resolve import Resolver, Scenario
from rulelab.scenario.schema import ScenarioModel


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``PATH=VALUE`` (VALUE parsed as YAML) to the raw scenario dict in place."""
    if "=" not in assignment:
        raise ScenarioError("--set", [(assignment, "expected PATH=VALUE, e.g. rules[0].lr=0.2")])
    path, _, text = assignment.partition("=")
    path = path.strip()
    try:
        tokens = parse_key_path(path)
        value = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScenarioError("--set", [(path, str(exc))]) from None
    try:
        set_key_path(raw, tokens, value, create_missing=True)
    except KeyPathError as exc:
        words = {"not_list": "is not a list, so it cannot be indexed",
                 "out_of_range": f"index out of range (the list has {exc.size} items)",
                 "not_mapping": "its parent is not a mapping"}[exc.kind]
        raise ScenarioError("--set", [(exc.where, words)]) from None



# ----------------------------------------------------------------- loading


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError(str(path), [("", "file not found")]) from None
    except OSError as exc:
        raise ScenarioError(str(path), [("", f"cannot read: {exc.strerror}")]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(str(path), [("", f"not valid YAML: {where}{problem}")]) from None
    if not isinstance(raw, dict):
        raise ScenarioError(str(path), [("", f"expected a mapping of keys at the top, got {type(raw).__name__}")])
    return raw


TASK_ENTRY_KEYS = ("name", "description", "task", "network", "train")


def read_with_overrides(path: Path, overrides: list[str] | tuple[str, ...] = (), seed: int | None = None,
                        repeats: int | None = None) -> dict[str, Any]:
    """The raw scenario dict with command-line settings applied (flags win over the file)."""
    raw = read_yaml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    if seed is not None:
        raw["seed"] = seed
    if repeats is not None:
        raw["repeats"] = repeats
    return raw


def _deep_merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _deep_merge(base.get(key), value)
        return merged
    return copy.deepcopy(extra)


def split_tasks(raw: dict[str, Any], source: str) -> list[tuple[str, dict[str, Any]]]:
    """A file with ``tasks:`` is several comparisons of the same rules: one raw scenario per task.

    Each entry names the task and replaces ``task``; ``network`` and ``train`` given in an
    entry are merged over the shared ones.  Without ``tasks:`` the file is one comparison.
    """
    if "tasks" not in raw:
        return [("", raw)]
    entries = raw["tasks"]
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(source, [("tasks", "expected a non-empty list of {name, task, network?, train?}")])
    problems, out, names = [], [], set()
    base = {k: v for k, v in raw.items() if k != "tasks"}
    for i, entry in enumerate(entries):
        where = f"tasks[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "task" not in entry:
            problems.append((where, "expected a mapping with a name and a task"))
            continue
        unknown = [k for k in entry if k not in TASK_ENTRY_KEYS]
        for key in unknown:
            problems.append((f"{where}.{key}", f"unknown key '{key}'{did_you_mean(key, TASK_ENTRY_KEYS)} "
                                               f"(expected one of: {', '.join(TASK_ENTRY_KEYS)})"))
        if entry["name"] in names or not re.fullmatch(r"[A-Za-z0-9_.-]+", entry["name"]):
            problems.append((f"{where}.name", f"got {entry['name']!r}; expected a unique name of letters, "
                                              "digits, '-', '_' or '.'"))
        names.add(entry["name"])
        merged = copy.deepcopy(base)
        merged["task"] = copy.deepcopy(entry["task"])
        for key in ("network", "train"):
            if key in entry:
                merged[key] = _deep_merge(base.get(key, {}), entry[key])
        merged["name"] = f"{base.get('name', 'scenario')}-{entry['name']}"
        if "description" in entry:
            merged["description"] = entry["description"]
        out.append((entry["name"], merged))
    if problems:
        raise ScenarioError(source, problems)
    return out


def load_scenarios(path: str | Path, overrides: list[str] | tuple[str, ...] = (), seed: int | None = None,
                   repeats: int | None = None, plugins: list[str] | tuple[str, ...] = ()) -> list[tuple[str, Scenario]]:
    """Every comparison in a file: [("", scenario)] for a plain file, one per entry of ``tasks:``.

    Overrides apply to the file before it is split, so ``--set tasks[1].task.dataset=…`` works.
    """
    path = Path(path)
    raw = read_with_overrides(path, overrides, seed, repeats)
    result = []
    for name, part in split_tasks(raw, str(path)):
        try:
            result.append((name, validate_scenario(part, str(path), path.parent, extra_plugins=plugins)))
        except ScenarioError as exc:
            prefix = f"tasks '{name}': " if name else ""
            raise ScenarioError(exc.source, [(p, prefix + m) for p, m in exc.problems]) from None
    return result


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                  seed: int | None = None, repeats: int | None = None,
                  plugins: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file (raises :class:`ScenarioError`)."""
    scenarios = load_scenarios(path, overrides, seed, repeats, plugins)
    if len(scenarios) > 1 or scenarios[0][0]:
        names = ", ".join(name for name, _ in scenarios)
        raise ScenarioError(str(path), [("tasks", f"this file holds several comparisons ({names}); "
                                                  "load it with load_scenarios")])
    return scenarios[0][1]


def validate_scenario(raw: dict[str, Any], source: str = "<scenario>", base_dir: Path = Path("."),
                      extra_plugins: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Validate a raw scenario dict; every problem found is reported at once."""
    try:
        model = ScenarioModel.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(source, pydantic_problems(exc, (), ScenarioModel)) from None
    return Resolver(model, raw, source, base_dir, extra_plugins).resolve()





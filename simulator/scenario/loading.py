"""Reading scenario files: YAML, command-line overrides, several tasks in one file."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rulelab.scenario.errors import ScenarioError, clip_text, did_you_mean, pydantic_problems, show
from rulelab.scenario.keypaths import KeyPathError, format_key_path, parse_key_path, set_key_path
from rulelab.scenario.limits import INT64_MAX, INT64_MIN, MAX_EXPANDED_VALUES, count_values, format_count
from rulelab.scenario.resolve import Resolver, Scenario
from rulelab.scenario.schema import ScenarioModel
from rulelab.scenario.yaml_reader import (YAMLInputError, decode_scenario_bytes, parse_yaml,
                                          read_scenario_bytes)


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``PATH=VALUE`` (VALUE parsed as YAML) to the raw scenario dict in place."""
    if "=" not in assignment:
        raise ScenarioError("--set", [(assignment, "expected PATH=VALUE, e.g. rules[0].lr=0.2")])
    path, _, text = assignment.partition("=")
    path = path.strip()
    try:
        tokens = parse_key_path(path)
    except ValueError as exc:
        raise ScenarioError("--set", [(clip_text(path), str(exc))]) from None
    try:
        value = parse_yaml(text)
    except (YAMLInputError, yaml.YAMLError) as exc:
        raise ScenarioError("--set", [(path, f"in the value: {yaml_problem(exc)}")]) from None
    try:
        set_key_path(raw, tokens, value, create_missing=True)
    except KeyPathError as exc:
        last = exc.where.rsplit(".", 1)[-1]
        words = {"not_list": "is not a list, so it cannot be indexed",
                 "out_of_range": f"index out of range (the list has {exc.size} items)",
                 "not_mapping": "its parent is not a mapping",
                 "missing": f"no such list in the scenario{did_you_mean(last, exc.siblings)}"}[exc.kind]
        raise ScenarioError("--set", [(exc.where, words)]) from None



# ----------------------------------------------------------------- loading


def read_yaml(path: Path) -> dict[str, Any]:
    """A scenario file as a raw mapping; every way a file can be unreadable is a ScenarioError."""
    try:
        raw = parse_yaml(decode_scenario_bytes(read_scenario_bytes(path)))
    except FileNotFoundError:
        raise ScenarioError(str(path), [("", "file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError(str(path), [("", "is a directory; expected a scenario file")]) from None
    except OSError as exc:
        raise ScenarioError(str(path), [("", f"cannot read: {exc.strerror or exc}")]) from None
    except (YAMLInputError, yaml.YAMLError) as exc:
        raise ScenarioError(str(path), [("", yaml_problem(exc))]) from None
    if not isinstance(raw, dict):
        raise ScenarioError(str(path), [("", f"expected a mapping of keys at the top, got {type(raw).__name__}")])
    return raw


def yaml_problem(exc: Exception) -> str:
    """What is wrong with a YAML text, with its line and column when known."""
    if isinstance(exc, YAMLInputError):
        return exc.describe()
    mark = getattr(exc, "problem_mark", None)
    if mark is None and isinstance(exc, yaml.reader.ReaderError):
        return f"not valid YAML: {exc.reason}"  # a control character, with its position in the text
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"not valid YAML: {where}{problem}"


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
    # Each task is a copy of the shared part: a long list of tasks over a large shared part expands
    # like an alias bomb.
    size = count_values(base, MAX_EXPANDED_VALUES)
    if size * len(entries) > MAX_EXPANDED_VALUES:
        raise ScenarioError(source, [("tasks", f"{len(entries)} tasks × {size} values shared by each = "
                                               f"{format_count(size * len(entries))} values, more than the "
                                               f"{MAX_EXPANDED_VALUES} a scenario may expand to")])
    for i, entry in enumerate(entries):
        where = f"tasks[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "task" not in entry:
            problems.append((where, "expected a mapping with a name and a task"))
            continue
        unknown = [k for k in entry if k not in TASK_ENTRY_KEYS]
        for key in unknown:
            problems.append((f"{where}.{clip_text(key)}", f"unknown key {show(key)}{did_you_mean(key, TASK_ENTRY_KEYS)} "
                                                          f"(expected one of: {', '.join(TASK_ENTRY_KEYS)})"))
        if entry["name"] in names or not re.fullmatch(r"[A-Za-z0-9_.-]+", entry["name"]):
            problems.append((f"{where}.name", f"got {show(entry['name'])}; expected a unique name of letters, "
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
    _check_task_references(result, str(path))
    return result


def _check_task_references(scenarios: list[tuple[str, Scenario]], source: str) -> None:
    """task.weights_from.task must name a task that runs earlier in the same file."""
    problems = []
    for i, (name, scenario) in enumerate(scenarios):  # a task's problems: its key path, its name in words
        ref = scenario.weights_from
        if ref is None or ref.task is None:
            continue
        earlier = [n for n, _ in scenarios[:i]]
        where = "task.weights_from.task"
        if not name:
            problems.append((where, f"got {ref.task!r}; a task of the same file is only there in a file with "
                                    "tasks: (use run: DIRECTORY for a previous run)"))
        elif ref.task not in earlier:
            problems.append((where, f"tasks '{name}': got {ref.task!r}; expected an earlier task of this file "
                                    f"({', '.join(map(repr, earlier)) or 'none before this one'})"))
    if problems:
        raise ScenarioError(source, problems)


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
    problems = integers_beyond_64_bits(raw)
    import_plugin_kinds(raw, base_dir, extra_plugins)
    try:
        model = ScenarioModel.model_validate(raw)
    except ValidationError as exc:
        reported = {path for path, _ in problems}
        problems += [p for p in pydantic_problems(exc, (), ScenarioModel, given=raw) if p[0] not in reported]
    if problems:
        raise ScenarioError(source, problems)
    return Resolver(model, raw, source, base_dir, extra_plugins).resolve()


def integers_beyond_64_bits(raw: Any) -> list[tuple[str, str]]:
    """Every integer of the file, wherever it is, reaches NumPy or compiled code as a 64-bit value:
    refuse larger ones up front (an OverflowError deep in a run is no message)."""
    problems = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), raw)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((path + (key,), value) for key, value in node.items() if isinstance(key, str))
        elif isinstance(node, list):
            stack.extend((path + (i,), value) for i, value in enumerate(node))
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            problems.append((format_key_path(path), f"got {format_count(node)}; expected a whole number that "
                             f"fits 64 bits (at most {format_count(INT64_MAX)})"))
    return sorted(problems)


# A real file names a few plug-ins; a hostile one may name thousands (the rule lookup still imports them all).
MAX_PLUGINS_IMPORTED_FIRST = 32


def import_plugin_kinds(raw: dict[str, Any], base_dir: Path, extra_plugins: list[str] | tuple[str, ...]) -> None:
    """Import the file's plug-ins before its keys are checked, so that ``task.kind`` may name a plug-in's kind.

    A plug-in that fails here is left to the rule lookup, which reports it at ``plugins`` with the rest."""
    from rulelab.registry import RegistryError, load_plugin

    listed = raw.get("plugins") if isinstance(raw, dict) else None
    specs = [spec for spec in (listed if isinstance(listed, list) else []) if isinstance(spec, str)]
    for spec in [*specs, *extra_plugins][:MAX_PLUGINS_IMPORTED_FIRST]:
        try:
            load_plugin(spec, base_dir)
        except RegistryError:
            pass

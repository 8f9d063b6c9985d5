"""Problems with a scenario, in words: the file, the key path, what was given and what is expected."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from rulelab.scenario.keypaths import format_key_path


class ScenarioError(Exception):
    """A scenario (or an override) is invalid; ``problems`` are (key path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__(self.format())

    def format(self) -> str:
        lines = [f"{self.source}: {path}: {msg}" if path else f"{self.source}: {msg}"
                 for path, msg in self.problems]
        return "\n".join(lines)



def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the last key of ``loc`` (for did-you-mean)."""
    current: Any = model
    for token in loc[:-1]:
        if isinstance(token, int) or current is None:
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(token)
        if field is None:
            return None
        current = _first_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _first_model(annotation: Any) -> Any:
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def pydantic_problems(exc: ValidationError, prefix: tuple[Any, ...],
                      model: type[BaseModel]) -> list[tuple[str, str]]:
    problems = []
    seen = set()
    for err in exc.errors():
        # Drop the union-branch tags pydantic adds (e.g. 'str', 'InitConfig', 'literal[...]').
        loc = tuple(t for t in err["loc"] if isinstance(t, int) or not _is_branch_tag(t))
        path = format_key_path(prefix + loc)
        if path in seen:
            continue
        seen.add(path)
        problems.append((path, _describe_error(err, loc, model)))
    return problems


def _is_branch_tag(token: str) -> bool:
    return (token[:1].isupper() or token.startswith(("literal[", "list[", "dict[", "function-"))
            or token in ("str", "int", "float", "bool"))


def _describe_error(err: dict[str, Any], loc: tuple[Any, ...], model: type[BaseModel]) -> str:
    kind = err["type"]
    given = err.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(model, loc)
        known = list(owner.model_fields) if owner else []
        hint = did_you_mean(loc[-1], known) if known else ""
        expected = f" (expected one of: {', '.join(known)})" if known else ""
        return f"unknown key '{loc[-1]}'{hint}{expected}"
    if kind == "value_error":  # a model-level check (e.g. an even population): its message says it all
        return err["msg"].removeprefix("Value error, ")
    if kind == "missing":
        return "missing; this key is required"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = re.findall(r"'([^']*)'", expected)
        return f"got {given!r}; expected one of {expected}{did_you_mean(given, choices)}"
    return f"got {given!r}; {err['msg'][0].lower()}{err['msg'][1:]}"



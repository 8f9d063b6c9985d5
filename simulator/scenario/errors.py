"""Problems with a scenario, in words: the file, the key path, what was given and what is expected.

Messages show what was given with :func:`show`, which looks at a bounded part of a value
only: a given value can be a list of a million items or an integer of thousands of digits.
"""

from __future__ import annotations

import difflib
import re
import reprlib
from typing import Any

from pydantic import BaseModel, ValidationError

from rulelab.scenario.keypaths import format_key_path
from rulelab.scenario.limits import MAX_PROBLEMS_SHOWN, format_count


class ScenarioError(Exception):
    """A scenario (or an override) is invalid; ``problems`` are (key path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = list(dict.fromkeys(problems))  # the shared network is checked once per rule
        super().__init__(self.format())

    def format(self) -> str:
        shown = self.problems[:MAX_PROBLEMS_SHOWN]
        lines = [f"{self.source}: {path}: {msg}" if path else f"{self.source}: {msg}" for path, msg in shown]
        if len(self.problems) > len(shown):
            lines.append(f"{self.source}: … and {len(self.problems) - len(shown)} more problems")
        return "\n".join(lines)


class _ShortRepr(reprlib.Repr):
    """reprlib looks at a few items of a container and a few characters of a string; integers of
    any size are given as a count of digits (``repr`` itself refuses more than 4300)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict, self.maxset = 2, 6, 6, 4, 6
        self.maxstring, self.maxother = 60, 60

    def repr_int(self, x: int, level: int) -> str:
        return repr(x) if x.bit_length() <= 64 else format_count(x)

    def repr_str(self, x: str, level: int) -> str:
        return repr(clip_text(x, self.maxstring))

    def repr_bool(self, x: bool, level: int) -> str:
        return repr(x).lower()  # as the file wrote it: true/false


_SHORT = _ShortRepr()


def show(value: Any) -> str:
    """A bounded, readable repr of a given value, safe for values of any size."""
    return _SHORT.repr(value)


def clip_text(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def did_you_mean(word: Any, choices: list[str] | tuple[str, ...]) -> str:
    if not isinstance(word, str) or len(word) > 100:  # nothing to suggest; difflib is quadratic in length
        return ""
    by_case = {str(c).lower(): str(c) for c in choices}
    if word.lower() in by_case:  # `Repeats:` → repeats
        return f"; did you mean '{by_case[word.lower()]}'?"
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
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


def pydantic_problems(exc: ValidationError, prefix: tuple[Any, ...], model: type[BaseModel],
                      given: Any = None) -> list[tuple[str, str]]:
    """One (key path, message) per distinct path; ``given`` is the input that was validated."""
    found: dict[str, tuple[str, bool]] = {}
    enclosing: set[str] = set()  # every path that holds another problem's path
    # Lean errors (no input, context or URL: the input is read off ``given``): a list of many bad
    # values makes as many errors, and each of these dicts costs memory.
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc, value = _key_path(err["loc"], given, last_is_key=err["type"] == "missing")
        path = format_key_path(prefix + loc)
        if path not in found:
            found[path] = (_describe_error(err, loc, value, model), err["type"] in _BRANCH_MISMATCHES)
            enclosing.update(format_key_path(prefix + loc[:k]) for k in range(len(loc)))
    # A value that fits one branch of a union except for a nested key fails the other branches as a
    # whole: `init: {scheme: uniform, scale: .inf}` is not one of 'zeros', 'uniform', … either.  The
    # nested problem is the one to fix; the whole-value mismatch is noise.
    return [(path, message) for path, (message, mismatch) in found.items() if not (mismatch and path in enclosing)]


_BRANCH_MISMATCHES = {"literal_error", "string_type", "dict_type", "list_type", "model_type", "int_type",
                      "float_type", "bool_type", "model_attributes_type"}


def _key_path(loc: tuple[Any, ...], given: Any, last_is_key: bool) -> tuple[tuple[Any, ...], Any]:
    """pydantic's location without the tags it adds for each branch of a union ('str', 'InitConfig',
    "literal['zeros', …]"), and the value found there.  Which tokens are keys is read off the input
    itself, walked along the location: a tag is never a key of the mapping it is found in (a name
    such as `Repeats` may be)."""
    path: list[Any] = []
    node = given
    for i, token in enumerate(loc):
        if isinstance(node, dict) and token in node:
            path.append(token)
            node = node[token]
        elif isinstance(node, (list, tuple)) and isinstance(token, int) and 0 <= token < len(node):
            path.append(token)
            node = node[token]
        elif isinstance(node, dict) and i == len(loc) - 1 and last_is_key:
            path.append(token)  # a required key that is missing
        # otherwise a union tag, or a step the input cannot show: leave it out
    return tuple(path), node


def _describe_error(err: dict[str, Any], loc: tuple[Any, ...], given: Any, model: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _model_at(model, loc)
        known = list(owner.model_fields) if owner else []
        hint = did_you_mean(loc[-1], known) if known else ""
        expected = f" (expected one of: {', '.join(known)})" if known else ""
        return f"unknown key {show(loc[-1])}{hint}{expected}"
    if kind == "value_error":  # a model-level check (e.g. an even population): its message says it all
        return err["msg"].removeprefix("Value error, ")
    if kind == "missing":
        return "missing; this key is required"
    if kind == "literal_error":
        expected = err["msg"].removeprefix("Input should be ")  # "'a', 'b' or 'c'"
        choices = re.findall(r"'([^']*)'", expected)
        return f"got {show(given)}; expected one of {expected}{did_you_mean(given, choices)}"
    if kind == "finite_number":
        return f"got {show(given)}; expected a finite number (not .inf or .nan)"
    if kind in ("int_type", "float_type") and isinstance(given, bool):
        return f"got {show(given)}; expected a number, not a boolean"
    if kind == "bool_type":
        return f"got {show(given)}; expected true or false"
    return f"got {show(given)}; {err['msg'][0].lower()}{err['msg'][1:]}"

"""Scenario text to plain data and back: UTF-8 only, safe tags only, bounded in size, aliases and nesting.

PyYAML's ``safe_load`` refuses Python tags but accepts much that a scenario never needs and
that hurts when it comes from a hostile or broken file: a key given twice (the last silently
wins), aliases that expand a small file into billions of values, nesting deep enough to
overflow the stack, integers with more digits than Python converts.  ``ScenarioLoader`` is
a ``SafeLoader`` (libyaml's when installed) that refuses those with the line they are on.
It also reads ``1e-3`` as the number it looks like (YAML 1.1 wants ``1.0e-3``) and keeps
dates as text, since a scenario has numbers and never dates.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from rulelab.scenario.limits import MAX_DEPTH, MAX_EXPANDED_VALUES, MAX_FILE_BYTES, MAX_YAML_NODES, format_bytes

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# YAML 1.2 floats in exponent form without a dot: 1e-3, -2E5, .5e1 (YAML 1.1 reads them as text).
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class YAMLInputError(Exception):
    """The text is not a scenario-sized YAML document; ``line`` is 1-based, or None."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    def describe(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line and self.column else (
            f"line {self.line}: " if self.line else "")
        return f"{where}{self.message}"


class ScenarioLoader(_Base):
    """A safe YAML loader that refuses duplicate keys, non-text keys and oversized documents."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.nodes_seen = 0

    # Called once per node while the document is composed (also from libyaml's C composer):
    # the cheapest place to stop a document that is far too big before it is built.
    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        self.nodes_seen += 1
        if self.nodes_seen > MAX_YAML_NODES:
            raise YAMLInputError(f"more than {MAX_YAML_NODES} values; a scenario holds settings, not data "
                                 "(put data in a CSV or NPZ file: dataset: {name: csv, path: …})")
        return super().resolve(kind, value, implicit)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *defaults` may be overridden by the keys beside it; that is its point
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise YAMLInputError(_not_text_key(key_node, key), line, key_node.start_mark.column + 1)
            if key in first_line:
                where = f"lines {first_line[key]} and {line}" if first_line[key] != line else f"both on line {line}"
                raise YAMLInputError(f"key '{_clip(key)}' is given twice in one mapping ({where}); keep one",
                                     line, key_node.start_mark.column + 1)
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # Python refuses to convert integers of more than 4300 digits
            raise YAMLInputError(f"an integer of {len(node.value)} digits; expected a number that fits 64 bits",
                                 node.start_mark.line + 1, node.start_mark.column + 1) from None


ScenarioLoader.add_constructor("tag:yaml.org,2002:int", ScenarioLoader.construct_yaml_int)
ScenarioLoader.add_implicit_resolver(_FLOAT_TAG, _EXPONENT_FLOAT, list("-+.0123456789"))
# Dates stay text: no key of a scenario takes a date, and `name: 2024-05-01` is meant as a name.
ScenarioLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in ScenarioLoader.yaml_implicit_resolvers.items()}


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class ScenarioDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml's emitter: fast on long text
    """Writes what ScenarioLoader reads back unchanged: a text that looks like an exponent float
    (a run named `1e5`) is quoted, since the loader reads `1e5` as a number."""


ScenarioDumper.add_implicit_resolver(_FLOAT_TAG, _EXPONENT_FLOAT, list("-+.0123456789"))


def dump_yaml(data: Any) -> str:
    """YAML text of plain data, in key order, that parse_yaml reads back as the same data."""
    return yaml.dump(data, Dumper=ScenarioDumper, sort_keys=False, allow_unicode=True)


def _not_text_key(node: yaml.Node, key: Any) -> str:
    if not isinstance(node, yaml.ScalarNode):
        return f"a {node.id} is used as a key; keys must be text"
    if isinstance(key, bool):
        kind = f"the boolean {str(key).lower()} (YAML reads yes/no/on/off as booleans)"
    else:
        kind = "null" if key is None else "a number"
    return f"key '{_clip(node.value)}' is read as {kind}; keys must be text (put it in quotes)"


def decode_scenario_bytes(data: bytes) -> str:
    """UTF-8 text (a UTF-8 byte-order mark is allowed); anything else is refused with where it fails."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise YAMLInputError("the file is UTF-16 text; save it as UTF-8")
    if b"\x00" in data[:8192]:
        raise YAMLInputError("the file holds binary data (NUL bytes), not YAML text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YAMLInputError(f"byte 0x{data[exc.start]:02x} is not UTF-8; save the file as UTF-8 "
                             "(it may be Latin-1 or another legacy encoding)", line, column) from None


def read_scenario_bytes(path: Any) -> bytes:
    """The file's bytes, refusing files larger than a scenario can be (without reading them whole)."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise YAMLInputError(f"the file is larger than {format_bytes(MAX_FILE_BYTES)}; a scenario holds settings, "
                             "not data (put data in a CSV or NPZ file: dataset: {name: csv, path: …})")
    return data


def parse_yaml(text: str) -> Any:
    """One YAML document as plain data; raises YAMLInputError (bounds) or yaml.YAMLError (syntax)."""
    loader = ScenarioLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_node_graph(node)
        return loader.construct_document(node)
    except RecursionError:  # only the pure-Python composer recurses; libyaml stops at its own depth
        raise YAMLInputError(f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def check_node_graph(root: yaml.Node) -> None:
    """Refuse recursive aliases, nesting deeper than MAX_DEPTH and more than MAX_EXPANDED_VALUES values
    once aliases are expanded — counted on the graph, each node once, without expanding anything."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            mark = node.start_mark
            if depth[key] > MAX_DEPTH:
                raise YAMLInputError(f"nested more than {MAX_DEPTH} levels deep", mark.line + 1, mark.column + 1)
            if size[key] > MAX_EXPANDED_VALUES:
                raise YAMLInputError(f"aliases expand this to more than {MAX_EXPANDED_VALUES} values",
                                     mark.line + 1, mark.column + 1)
            continue
        if key in size:
            continue
        if key in on_path:
            mark = node.start_mark
            raise YAMLInputError("an alias refers to a collection that contains it (a recursive structure)",
                                 mark.line + 1, mark.column + 1)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []

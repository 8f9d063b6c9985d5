"""Key paths such as ``rules[1].lr``: parsing, printing and setting them in a raw scenario."""

from __future__ import annotations

import re
from typing import Any

_PATH_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def parse_key_path(path: str) -> list[str | int]:
    """``rules[0].lr`` → ['rules', 0, 'lr']; raises ValueError on a malformed path."""
    tokens: list[str | int] = []
    pos = 0
    for part in path.split("."):
        if not part:
            raise ValueError(f"malformed key path {path!r}")
        matched = 0
        for m in _PATH_TOKEN.finditer(part):
            if m.start() != matched:
                raise ValueError(f"malformed key path {path!r}")
            tokens.append(m.group(1) if m.group(1) else int(m.group(2)))
            matched = m.end()
        if matched != len(part):
            raise ValueError(f"malformed key path {path!r}")
        pos += 1
    return tokens


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_key_path(tokens: list[str | int] | tuple[Any, ...]) -> str:
    """['rules', 0, 'lr'] → ``rules[0].lr``; a key that is not a plain name is quoted: ``task['my key']``."""
    out = ""
    for t in tokens:
        if isinstance(t, int):
            out += f"[{t}]"
        elif isinstance(t, str) and len(t) <= 40 and _NAME.fullmatch(t):
            out += f".{t}" if out else t
        else:
            text = str(t)
            out += f"[{text if len(text) <= 40 else text[:39] + '…'!r}]"
    return out


class KeyPathError(ValueError):
    """A key path that cannot be set: ``kind`` is not_list, out_of_range, not_mapping or missing."""

    def __init__(self, where: str, kind: str, size: int = 0, siblings: tuple[str, ...] = ()):
        super().__init__(f"{where}: {kind}")
        self.where, self.kind, self.size = where, kind, size
        self.siblings = siblings  # the keys that do exist there (for did-you-mean)


def set_key_path(raw: dict[str, Any], tokens: list[str | int], value: Any, create_missing: bool) -> None:
    """Set ``raw`` at a parsed key path; missing mapping keys on the way are created or refused."""
    node: Any = raw
    for i, token in enumerate(tokens):
        where = format_key_path(tokens[: i + 1])
        if isinstance(token, int):
            if not isinstance(node, list):
                raise KeyPathError(where, "not_list")
            if token >= len(node):
                raise KeyPathError(where, "out_of_range", len(node))
        elif not isinstance(node, dict):
            raise KeyPathError(where, "not_mapping")
        if i == len(tokens) - 1:
            node[token] = value
            return
        if isinstance(token, str) and token not in node:
            # A missing mapping is created (--set train.stop.train_accuracy=1); a missing list cannot be.
            if not create_missing or isinstance(tokens[i + 1], int):
                raise KeyPathError(where, "missing", siblings=tuple(k for k in node if isinstance(k, str)))
            node[token] = {}
        node = node[token]



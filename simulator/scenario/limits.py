"""Bounds on what a scenario may ask for, checked before anything is read in full or allocated.

A scenario holds settings, not data: the bounds on the file itself keep `rulelab validate`
fast and small on any input (a few hundred MB of garbage, an alias bomb), while leaving
room for every realistic scenario — inline tables of a few thousand values included.
Sizes that a run would allocate are compared with this machine's memory, arithmetically.
"""

from __future__ import annotations

import math
import os

# The scenario file: bytes read, YAML nodes parsed, values after aliases are expanded, nesting.
# 20 000 values fit an inline table of several thousand rows; validation of a file of 20 000 bad
# values stays under 200 MB (pydantic reports each, up to twice through a union, ~1.3 KB each).
MAX_FILE_BYTES = 1_000_000
MAX_YAML_NODES = 20_000
MAX_EXPANDED_VALUES = 20_000
MAX_DEPTH = 32

# One comparison runs every rule on every seed; each (rule, seed) run keeps its record and curves.
MAX_RUNS = 1_000_000
# Every sweep point is a whole scenario, validated before any work starts: at most this many points,
# and at most MAX_SWEEP_VALUES values in all of them (a sweep over a scenario with a large inline table).
MAX_SWEEP_POINTS = 10_000
MAX_SWEEP_VALUES = 5_000_000

# How many problems one error message lists (a list of a million bad values is one mistake).
MAX_PROBLEMS_SHOWN = 20

# Integers travel into compiled code as 64-bit values.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def count_values(data: object, stop_above: int) -> int:
    """Values in plain data (each mapping key, value and list item; containers count too), counted
    without recursion and given up once above ``stop_above``."""
    count, stack = 0, [data]
    while stack and count <= stop_above:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            count += len(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def memory_bytes() -> int:
    """This machine's physical memory: what no run here can exceed."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a large workstation
        return 64 << 30


def format_bytes(n: int) -> str:
    """1536 → '1.54 KB'; powers of 1000, as memory is usually quoted; beyond exabytes, 10^k bytes."""
    if n >= 10 ** 21:
        return f"{format_count(n)} bytes"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB", "EB"):
        if size < 1000 or unit == "EB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def format_count(n: int) -> str:
    """A count a reader can compare at a glance: 2000000000000 → '2×10^12'; small ones as they are."""
    if abs(n) < 1_000_000:
        return str(n)
    exponent = int(math.log10(abs(n)))  # math.log10 takes integers of any size
    mantissa = abs(n) / 10 ** exponent
    if mantissa >= 10:  # log10 rounded up at a power of ten
        mantissa, exponent = mantissa / 10, exponent + 1
    elif mantissa < 1:
        mantissa, exponent = mantissa * 10, exponent - 1
    lead = "" if f"{mantissa:.3g}" == "1" else f"{mantissa:.3g}×"
    return f"{'-' if n < 0 else ''}{lead}10^{exponent}"

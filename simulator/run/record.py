"""What one (rule, seed) run produced, and the words for how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

# Statuses of one (rule, seed) run.
CONVERGED = "converged"
NOT_CONVERGED = "not_converged"
COMPLETED = "completed"  # no stop criterion was declared
DIVERGED = "diverged"
FAILED = "failed"
INTERRUPTED = "interrupted"


@dataclass
class MetricBlock:
    """Consecutive metric rows with the same columns, as the compiled engine fills them.

    ``values[i, c]`` is metric ``names[c]`` at epoch ``epochs[i]``.  Integer counters
    (forward passes, stage, …) are whole floats; they are written without a decimal point.
    """

    epochs: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray

    def rows(self) -> Iterator[tuple[int, str, float]]:
        for epoch, row in zip(self.epochs.tolist(), self.values.tolist()):
            for name, value in zip(self.names, row):
                yield epoch, name, value

    def last(self, metric: str) -> float:
        if metric not in self.names or not len(self.epochs):
            return float("nan")
        return float(self.values[-1, self.names.index(metric)])


@dataclass
class RunRecord:
    """Everything one (rule, seed) run produced.

    Metrics are ``blocks`` (whole tables, from compiled runs) followed by ``rows`` (single
    values appended afterwards: input optimisation, recall conditions); both are written
    to metrics.csv in that order.
    """

    label: str
    rule: str
    family: str
    seed: int
    status: str = COMPLETED
    message: str = ""
    epochs_run: int = 0
    criterion_epoch: int | None = None
    criterion_forward_passes: int | None = None
    wall_seconds: float = 0.0
    forward_passes: int = 0
    samples: int = 0  # training rows seen (for ES: rows per generation, not × members)
    rows: list[tuple[int, str, float]] = field(default_factory=list)
    params: np.ndarray | None = None
    # Arrays a task kind produces besides weights (optimised inputs, adversarial examples).
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    blocks: list[MetricBlock] = field(default_factory=list)

    def all_rows(self) -> Iterator[tuple[int, str, float]]:
        """Every (epoch, metric, value), blocks first, in the order they were measured."""
        for block in self.blocks:
            yield from block.rows()
        yield from self.rows

    def final(self, metric: str) -> float:
        for _, m, v in reversed(self.rows):
            if m == metric:
                return v
        for block in reversed(self.blocks):
            if metric in block.names and len(block.epochs):
                return block.last(metric)
        return float("nan")

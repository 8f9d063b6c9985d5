"""Task kind objective: evolution strategies minimise a black-box function of a bare parameter vector.

The search space stands where a network stands elsewhere (:class:`SearchSpace`: D parameters,
no layers); the function, its seeded shift and rotation are prepared per seed
(:func:`prepare_objective`) and evaluated in the compiled generation loop
(:mod:`rulelab.core.population`, :mod:`rulelab.core.objectives`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rulelab.core import population as PP
from rulelab.core.objectives import OBJECTIVE_CODES, make_transform, value

# The metrics of an objective run, after every generation (an epoch is one generation).
OBJECTIVE_COLUMNS = [("objective_best", PP.OBJECTIVE_BEST), ("objective_mean", PP.OBJECTIVE_MEAN),
                     ("evaluations", PP.EVALUATIONS)]
OBJECTIVE_METRICS = tuple(name for name, _ in OBJECTIVE_COLUMNS)


@dataclass(frozen=True)
class SearchSpace:
    """What an objective task's strategies search: x ∈ R^D, float64 — a network without layers."""

    dimension: int
    function: str
    dtype: str = "float64"
    layout: np.ndarray = field(default_factory=lambda: np.zeros((0, 20), dtype=np.int64), repr=False, compare=False)
    act_args: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)
    tied: bool = False
    sizes: tuple[int, ...] = ()
    specs: tuple[Any, ...] = ()
    activations: tuple[str, ...] = ()

    @property
    def n_params(self) -> int:
        return self.dimension

    @property
    def n_units(self) -> int:
        return 0

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def kinds(self) -> tuple[str, ...]:
        return ()

    @property
    def output_activation(self) -> str:
        return "linear"

    def summary(self) -> list[tuple[str, str, int]]:
        """What ``rulelab validate`` prints for it: one row, the parameter vector."""
        return [(f"x, searched on {self.function}", str(self.dimension), self.dimension)]


@dataclass(frozen=True)
class ObjectiveData:
    """One seed's objective: the function's code and its transform (rotation rows, then the shift)."""

    function: str
    code: int
    transform: np.ndarray
    x0: np.ndarray


def prepare_objective(task: Any, seed: int) -> ObjectiveData:
    """The seeded shift and rotation of repeat ``seed`` and the initial point x0."""
    transform = make_transform(task.dimension, bool(task.shift), bool(task.rotate), seed)
    x0 = np.full(task.dimension, 1.0 if task.x0 is None else task.x0, dtype=np.float64) \
        if not isinstance(task.x0, list) else np.asarray(task.x0, dtype=np.float64)
    return ObjectiveData(task.function, OBJECTIVE_CODES[task.function], transform, x0)


def initial_objective_row(names: tuple[str, ...], values: np.ndarray, data: ObjectiveData, x0: np.ndarray) -> float:
    """Fill epoch 0's objective columns: f(x0) as the best and the mean's value, 0 evaluations; returns f(x0)."""
    f0 = value(data.function, x0, data.transform)
    for c, name in enumerate(names):
        if name in ("objective_best", "objective_mean"):
            values[c] = f0
        elif name == "evaluations":
            values[c] = 0.0
    return f0

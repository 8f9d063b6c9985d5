"""The build step: from a validated Scenario to the arrays a run needs (the only bridge between the two)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rulelab.data.datasets import Split, split_dataset
from rulelab.scenario import Scenario


@dataclass(frozen=True)
class PreparedData:
    """One seed's split, as float64 arrays (cast per network dtype later)."""

    split: Split
    n_classes: int
    image_shape: tuple[int, int] | None
    low: float = 0.0  # the smallest and largest input value (bit flips map x → low + high − x)
    high: float = 1.0


def prepare_data(scenario: Scenario, seed: int) -> PreparedData:
    rng = np.random.default_rng([seed, 0])
    data = scenario.make_dataset(rng)
    split = split_dataset(data, scenario.task.test_fraction, rng, scenario.task.standardize,
                          scenario.task.validation_fraction, scenario.task.stratify)
    return PreparedData(split, data.n_classes, data.image_shape,
                        float(split.X_train.min()), float(split.X_train.max()))

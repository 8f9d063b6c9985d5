"""A complete example plug-in task kind: classification with a share of the training labels flipped.

Run it with:  rulelab run docs/examples/label_noise.yaml
(the scenario names this file under ``plugins:``), or add ``--plugin
docs/examples/label_noise.py`` to any command; ``rulelab kinds --plugin
docs/examples/label_noise.py`` lists it.

Everything but the data is classification's: the same checks, metrics and figures.  The
test set keeps its true labels, so test accuracy says what the net learned of the task,
and train accuracy how much of the noise it fitted.
"""

from dataclasses import replace

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rulelab.build import split_data
from rulelab.tasks.kinds import Classification


class LabelNoiseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    share: float = Field(0.2, ge=0, lt=1, description="the expected share of training labels changed")


def flip_labels(y: np.ndarray, n_classes: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Each label, with probability ``share``, moved to one of the other classes (uniformly)."""
    flipped = y.copy()
    hit = rng.random(len(y)) < share
    flipped[hit] = (y[hit] + rng.integers(1, n_classes, int(hit.sum()))) % n_classes
    return flipped


class LabelNoise(Classification):
    name = "label_noise"
    summary = "classification trained on labels of which a share is wrong (seeded); tested on true labels"
    Options = LabelNoiseOptions

    def prepare_data(self, scenario, seed):
        data = split_data(scenario, seed)  # the common road: the dataset generated and split
        rng = np.random.default_rng([seed, 0, 1])  # a stream of its own: the split is classification's
        noisy = flip_labels(data.split.y_train, max(data.n_classes, 2), scenario.task.options["share"], rng)
        return replace(data, split=replace(data.split, y_train=noisy))

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write a scenario dict (or YAML text) to a file and return its path."""

    def write(content, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path

    return write


@pytest.fixture
def gates_scenario() -> dict:
    return {
        "name": "gates",
        "seed": 0,
        "repeats": 2,
        "task": {"kind": "classification", "dataset": "and"},
        "network": {"layers": [2, 1], "activation": "step",
                    "init": {"scheme": "uniform", "scale": 0.5, "bias": "same"}},
        "train": {"epochs": 20, "batch_size": 1, "stop": {"train_accuracy": 1.0}},
        "rules": [
            {"rule": "perceptron", "lr": 0.1},
            {"rule": "delta", "lr": 0.5, "network": {"activation": "sigmoid"}},
        ],
    }


def make_net(sizes, acts, dtype="float64", seed=0, scheme="glorot", bias="same"):
    from rulelab.core.network import Network, init_params

    net = Network(tuple(sizes), tuple(acts), 0.1, dtype)
    params = init_params(net, np.random.default_rng(seed), scheme, bias_init=bias)
    return net, params

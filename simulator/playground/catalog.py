"""What the page's controls offer: datasets in the plane, rules with their hyperparameters, starting points.

Read off the same declarations validation uses (dataset option models, each rule's
HyperParameters), so a control can only offer what a scenario file may hold.
"""

from __future__ import annotations

import copy
from typing import Any

from rulelab.data.datasets import DATASETS
from rulelab.data.playground import INPUT_FEATURES
from rulelab.playground.state import (DEFAULT_LAB, HOPFIELD_RULES, MAX_EPOCHS, MAX_HOPFIELD_UNITS, MAX_RULES,
                                      PLANE_DATASETS, PLAYGROUND_DATASETS)
from rulelab.scenario.schema import ActivationName

# What "add a rule" puts in the scenario: settings that train on the playground's data as is.
# "IN" is replaced by the page with the number of input features.
PRESETS: dict[str, dict[str, Any]] = {
    "perceptron": {"rule": "perceptron", "lr": 0.1, "network": {"layers": ["IN", 1], "activation": "step"}},
    "delta": {"rule": "delta", "lr": 0.3, "network": {"layers": ["IN", 1], "activation": "sigmoid"}},
    "backprop": {"rule": "backprop", "lr": 0.3},
    "feedback_alignment": {"rule": "feedback_alignment", "lr": 0.3},
    "direct_feedback_alignment": {"rule": "direct_feedback_alignment", "lr": 0.3},
    "openai_es": {"rule": "openai_es", "population": 40, "sigma": 0.3, "lr": 0.05},
    "one_plus_one_es": {"rule": "one_plus_one_es"},
    "mu_lambda_es": {"rule": "mu_lambda_es"},
    "cma_es": {"rule": "cma_es"},
    "competitive+delta": {"label": "competitive+delta", "stages": [
        {"rule": "competitive", "lr": 0.05, "epochs": 20}, {"rule": "delta", "lr": 0.3}]},
    "oja+delta": {"label": "oja+delta", "stages": [{"rule": "oja", "lr": 0.01, "epochs": 20},
                                                   {"rule": "delta", "lr": 0.3}]},
}


def _fields(model: type) -> list[dict[str, Any]]:
    """One control per field of a pydantic model: name, type, default, bounds, choices, description."""
    schema = model.model_json_schema()
    out = []
    for name, prop in schema.get("properties", {}).items():
        field = {"name": name, "description": prop.get("description", "")}
        kind = prop.get("type")
        if "enum" in prop:
            field["type"], field["choices"] = "choice", prop["enum"]
        elif kind == "array" and "enum" in prop.get("items", {}):
            field["type"], field["choices"] = "set", prop["items"]["enum"]
        elif kind in ("number", "integer", "boolean", "string"):
            field["type"] = kind
        else:
            field["type"] = "other"  # lists of numbers and the like: kept as the scenario has them
        for key in ("default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in prop:
                field[key] = prop[key]
        out.append(field)
    return out


def catalog(initial: dict[str, Any] | None = None) -> dict[str, Any]:
    from rulelab.playground.hopfield import default_patterns
    from rulelab.registry import available_rules

    rules = []
    for name, cls in sorted(available_rules().items()):
        if cls.kind not in ("online", "population", "associative"):
            continue
        rules.append({"name": name, "kind": cls.kind, "family": cls.family, "summary": cls.summary,
                      "equation": cls.equation, "needs": cls.needs.describe(),
                      "hyperparameters": _fields(cls.Params)})
    datasets = []
    for name in PLANE_DATASETS + PLAYGROUND_DATASETS:
        info = DATASETS[name]
        datasets.append({"name": name, "description": info.description,
                         "regression": name in ("playground_plane", "playground_multi_gauss"),
                         "options": _fields(info.Options)})
    width, height, patterns = default_patterns()
    return {
        "datasets": datasets, "rules": rules, "presets": PRESETS,
        "activations": list(ActivationName.__args__), "features": list(INPUT_FEATURES),
        "default": copy.deepcopy(DEFAULT_LAB), "initial": initial,
        "hopfield": {"rules": list(HOPFIELD_RULES), "width": width, "height": height, "patterns": patterns,
                     "max_units": MAX_HOPFIELD_UNITS},
        "limits": {"rules": MAX_RULES, "epochs": MAX_EPOCHS},
    }

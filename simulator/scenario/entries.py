"""The rule entries of tasks that take one rule per entry and no per-rule network (objective and sequence tasks):
looking each rule up, validating its hyperparameters, distinct labels, and the resolved scenario they write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rulelab.registry import plugin_as_saved
from rulelab.rule import Rule
from rulelab.scenario.errors import clip_text, did_you_mean, pydantic_problems, show
from rulelab.scenario.keypaths import parse_key_path
from rulelab.scenario.schema import ScenarioModel

Problems = list[tuple[str, str]]


def entry_rule(entry: Any, where: str, registry: dict[str, type[Rule]], problems: Problems, no_stages: str,
               no_network: str) -> type[Rule] | None:
    """The registered rule of one entry, or None after saying why (stages given, unknown name); a network of its
    own is reported (``no_network``) without refusing the rule, so its other problems are found too."""
    if entry.stages is not None or entry.rule is None:
        problems.append((where, no_stages))
        return None
    if entry.network is not None:
        problems.append((f"{where}.network", no_network))
    rule = registry.get(entry.rule)
    if rule is None:
        problems.append((f"{where}.rule", f"unknown rule {show(entry.rule)}"
                         f"{did_you_mean(entry.rule, list(registry))} (available: {', '.join(registry)})"))
    return rule


def entry_params(rule: type[Rule], entry: Any, where: str, problems: Problems) -> Any:
    """The entry's hyperparameters validated by the rule's Params, or None after reporting them by key path."""
    given = dict(entry.model_extra or {})
    try:
        return rule.Params.model_validate(given)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, tuple(parse_key_path(where)), rule.Params, given=given))
        return None


def claim_label(entry: Any, rule: type[Rule], index: int, labels: dict[str, int], problems: Problems) -> str:
    """The entry's label (the rule's name by default); a label already used by an earlier entry is reported."""
    label = entry.label or rule.name
    if label in labels:
        problems.append((f"rules[{index}].label", f"'{clip_text(label)}' is already used by "
                         f"rules[{labels[label]}]; give each entry of the same rule a distinct label"))
    labels[label] = index
    return label


def resolved_scenario(m: ScenarioModel, base_dir: Path, task: dict[str, Any], specs: Any, metrics: tuple[str, ...],
                      network: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved scenario as a run saves it (scenario.yaml), keys in the order every resolved file has."""
    resolved: dict[str, Any] = {"name": m.name, "description": m.description, "seed": m.seed, "repeats": m.repeats,
                                "task": task}
    if network is not None:
        resolved["network"] = network
    resolved.update({
        "train": m.train.model_dump(exclude_none=True),
        "rules": [{"rule": spec.rule.name, "label": spec.label, **spec.params.model_dump()} for spec in specs],
        "metrics": list(metrics)})
    if m.plugins:
        resolved["plugins"] = [plugin_as_saved(spec, base_dir) for spec in m.plugins]
    return resolved


"""Scenario files: loading, command-line overrides, validation and defaults.

A scenario is read with ``yaml.safe_load`` only, then validated in two passes:
the shape of the file (pydantic models below), then what depends on the rest of
the file (the dataset's options, each rule's hyperparameters, layer sizes that
must fit the data).  Every problem becomes one line naming the file, the key
path (``rules[1].lr``), what was given and what is expected.
"""


from rulelab.scenario.errors import ScenarioError, did_you_mean, pydantic_problems
from rulelab.scenario.keypaths import KeyPathError, format_key_path, parse_key_path, set_key_path
from rulelab.scenario.loading import (apply_override, load_scenario, load_scenarios, read_with_overrides, read_yaml,
                                      split_tasks, validate_scenario)
from rulelab.scenario.resolve import RuleSpec, Scenario, Stage
from rulelab.scenario.schema import (METRICS, BudgetConfig, InitConfig, NetworkConfig, ScenarioModel,
                                     TaskConfig, TrainConfig)

__all__ = ["METRICS", "BudgetConfig", "InitConfig", "KeyPathError", "NetworkConfig", "RuleSpec",
           "Scenario", "ScenarioError", "ScenarioModel", "Stage", "TaskConfig", "TrainConfig", "apply_override",
           "did_you_mean", "format_key_path", "load_scenario", "load_scenarios", "parse_key_path",
           "pydantic_problems", "read_with_overrides", "read_yaml", "set_key_path", "split_tasks",
           "validate_scenario"]

"""The contract kit: every built-in rule passes; broken rules fail the right check, in words."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from rulelab.registry import available_rules
from rulelab.rule import Field, HyperParameters, Needs, Rule
from rulelab.testing import CHECKS, RuleCheckError, check_rule

BUILT_INS = sorted(available_rules())


@pytest.mark.parametrize("name", BUILT_INS)
def test_every_built_in_rule_passes_the_contract(name):
    rule = available_rules()[name]
    assert check_rule(rule) == [c.name for c in CHECKS]


class _Params(HyperParameters):
    lr: float = Field(0.1, gt=0, description="η")


@njit(cache=True)
def _good(params, layout, act_args, state, hp, X, Y, lo, hi):
    """Δw = 0 (a rule that does nothing, correctly)."""
    return 0.0


@njit(cache=True)
def _writes_x(params, layout, act_args, state, hp, X, Y, lo, hi):
    """X ← 0 (wrong: inputs are read-only)."""
    X[lo, 0] = 0.0
    return 0.0


@njit(cache=True)
def _random(params, layout, act_args, state, hp, X, Y, lo, hi):
    """w += noise (wrong: unseeded randomness inside the kernel)."""
    params[0] += np.random.random()
    return 0.0


@njit(cache=True)
def _needs_y(params, layout, act_args, state, hp, X, Y, lo, hi):
    """Δw = η t (uses the targets although it declares no labels)."""
    params[0] += hp[0] * Y[lo, 0]
    return 0.0


def make(update, params=_Params, needs=Needs(labels=True), **attrs):
    return type("Broken", (Rule,), {"name": "broken", "family": "hebbian", "equation": "Δw = …",
                                    "Params": params, "needs": needs, "update": staticmethod(update), **attrs})


def test_a_correct_minimal_rule_passes():
    assert "declared needs" in check_rule(make(_good, needs=Needs()))


@pytest.mark.parametrize("rule,check,words", [
    (make(_writes_x), "does not modify its inputs", "the update kernel wrote into X"),
    (make(_random), "deterministic for a seed", "two updates from the same seed gave different weights"),
    (make(_needs_y, needs=Needs()), "declared needs", "declares it needs no labels but read targets"),
    (make(_good, needs=Needs(labels=True, differentiable=True), check_network=lambda self, net: None),
     "declared needs", "needs differentiable activations but accepts a step network"),
    (make(_good, family="magic"), "declaration", "family 'magic' is not one of"),
    (make(lambda *a: 0.0), "declaration", "kernel decorated by @njit"),
])
def test_broken_rules_fail_the_right_check(rule, check, words):
    with pytest.raises(RuleCheckError) as info:
        check_rule(rule)
    assert f"check '{check}' failed" in str(info.value) and words in str(info.value)


def test_hyperparameter_constraints_must_hold():
    class Loose(HyperParameters):
        lr: float = 0.1  # no constraint: fine

    check_rule(make(_good, params=Loose))

    class BadDefault(HyperParameters):
        lr: float = Field(-1.0, gt=0)

    with pytest.raises(RuleCheckError, match="check 'hyperparameters' failed: the defaults do not validate"):
        check_rule(make(_good, params=BadDefault))


def test_object_mode_kernel_is_refused():
    @njit(cache=False)
    def uses_python(params, layout, act_args, state, hp, X, Y, lo, hi):
        """Δw = a Python dict (not compilable)."""
        return {"a": object()}["a"] and 0.0

    with pytest.raises(RuleCheckError, match="check 'compiles in nopython mode' failed"):
        check_rule(make(uses_python, needs=Needs()))

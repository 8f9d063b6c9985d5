"""The hyperparameters of the sequence rules, apart from the rules: the compiled recurrent model
(:mod:`rulelab.tasks.recurrent`) reads their packed positions, and the rules' module imports that model."""

from __future__ import annotations

from typing import Literal

from rulelab.rule import Field, HyperParameters


class SequenceParams(HyperParameters):
    """Hyperparameters of every sequence gradient rule; the recurrent kernels read them as hp[P.lr], … (P below)."""

    lr: float = Field(0.01, gt=0, description="learning rate η")
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="sgd (with optional momentum) or adam")
    momentum: float = Field(0.0, ge=0, lt=1, description="classical momentum μ (sgd)")
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam β1")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam β2")
    eps: float = Field(1e-8, gt=0, description="Adam ε")
    l2: float = Field(0.0, ge=0, description="L2 penalty λ Σ W² on W, U and V (not biases)")
    lr_decay: float = Field(0.0, ge=0, description="η_t = η / (1 + lr_decay · t), t = updates so far")
    clip: float = Field(0.0, ge=0, description="clip the minibatch gradient to this global norm (0: never)")
    truncation: int = Field(0, ge=0, description="BPTT(k, k): cut the backward flow every k steps (0: full)")


# Positions in the packed hp vector, derived from the class (hp[P.lr], …): never kept by hand.
P = SequenceParams.slots()

"""Feedback alignment (Lillicrap et al. 2016): backprop's error sent back through fixed random B."""

from __future__ import annotations

from numba import njit

from rulelab.core import gradient as G
from rulelab.core import kernels as K
from rulelab.rule import Field, Needs, Rule


class FeedbackAlignmentParams(G.GradientParams):
    feedback_scale: float = Field(1.0, gt=0, description="B ~ uniform(±scale/√fan-in), fixed at the start")


@njit(cache=True)
def feedback_alignment_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """δ_{l−1} = (B_lᵀ δ_l) ⊙ g′(z_{l−1}) with fixed random B_l,  ΔW_l = −η δ_l a_{l−1}ᵀ."""
    return G.gradient_step(params, layout, act_args, state, hp, X, Y, lo, hi, G.FEEDBACK)



@njit(cache=True, **K.NO_REFCOUNT)
def feedback_alignment_sgd_online(params, layout, act_args, state, hp, X, Y, lo, hi):
    """The same update for one row with plain SGD on an all-dense net: the engine's common case, straight-line."""
    return G.sgd_online_dense_step(params, layout, act_args, state, hp, X, Y, lo, G.FEEDBACK)

class FeedbackAlignment(G.GradientRule, Rule):
    name = "feedback_alignment"
    family = "gradient"
    summary = "Backprop without weight transport: the backward pass uses fixed random matrices B."
    equation = "δ_{l−1} = (B_lᵀ δ_l) ⊙ g′(z_{l−1}),  B_l fixed random"
    reference = "Lillicrap, Cownden, Tweed & Akerman 2016"
    needs = Needs(labels=True, differentiable=True, weight_transport=False)
    local = False
    signal = "online_loss"
    Params = FeedbackAlignmentParams
    update = staticmethod(feedback_alignment_update)
    sgd_online = staticmethod(feedback_alignment_sgd_online)
    # For tiny nets, rulelab.core.straight writes this kernel's step out (the same numbers, faster).
    straight_line_for = staticmethod(feedback_alignment_sgd_online)
    mode = G.FEEDBACK

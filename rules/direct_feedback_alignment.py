"""Direct feedback alignment (Nøkland 2016): the output error goes straight to every hidden layer."""

from __future__ import annotations

from numba import njit

from rulelab.core import gradient as G
from rulelab.core import kernels as K
from rulelab.rule import Field, Needs, Rule


class DirectFeedbackAlignmentParams(G.GradientParams):
    feedback_scale: float = Field(1.0, gt=0, description="D ~ uniform(±scale/√outputs), fixed at the start")


@njit(cache=True)
def direct_feedback_alignment_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """δ_l = (D_l δ_L) ⊙ g′(z_l) with fixed random D_l for every hidden layer,  ΔW_l = −η δ_l a_{l−1}ᵀ."""
    return G.gradient_step(params, layout, act_args, state, hp, X, Y, lo, hi, G.DIRECT)



@njit(cache=True, **K.NO_REFCOUNT)
def direct_feedback_alignment_sgd_online(params, layout, act_args, state, hp, X, Y, lo, hi):
    """The same update for one row with plain SGD on an all-dense net: the engine's common case, straight-line."""
    return G.sgd_online_dense_step(params, layout, act_args, state, hp, X, Y, lo, G.DIRECT)

class DirectFeedbackAlignment(G.GradientRule, Rule):
    name = "direct_feedback_alignment"
    family = "gradient"
    summary = "The output error reaches each hidden layer directly through a fixed random matrix."
    equation = "δ_l = (D_l δ_L) ⊙ g′(z_l),  D_l fixed random"
    reference = "Nøkland 2016"
    needs = Needs(labels=True, differentiable=True, weight_transport=False)
    local = False
    signal = "online_loss"
    Params = DirectFeedbackAlignmentParams
    update = staticmethod(direct_feedback_alignment_update)
    sgd_online = staticmethod(direct_feedback_alignment_sgd_online)
    mode = G.DIRECT

"""Backpropagation (Rumelhart, Hinton & Williams 1986): the reference gradient rule."""

from __future__ import annotations

from numba import njit

from rulelab.core import gradient as G
from rulelab.core import kernels as K
from rulelab.rule import Needs, Rule


class BackpropParams(G.GradientParams):
    pass


@njit(cache=True)
def backprop_update(params, layout, act_args, state, hp, X, Y, lo, hi):
    """δ_L = ∂E/∂z_L,  δ_{l−1} = (W_lᵀ δ_l) ⊙ g′(z_{l−1}),  W_l ← W_l − η δ_l a_{l−1}ᵀ."""
    return G.gradient_step(params, layout, act_args, state, hp, X, Y, lo, hi, G.BACKPROP)



@njit(cache=True, **K.NO_REFCOUNT)
def backprop_sgd_online(params, layout, act_args, state, hp, X, Y, lo, hi):
    """The same update for one row with plain SGD on an all-dense net: the engine's common case, straight-line."""
    return G.sgd_online_dense_step(params, layout, act_args, state, hp, X, Y, lo, G.BACKPROP)

class Backprop(G.GradientRule, Rule):
    name = "backprop"
    family = "gradient"
    summary = "Gradient descent on the loss through every layer, errors sent back through Wᵀ."
    equation = "δ_{l−1} = (W_lᵀ δ_l) ⊙ g′(z_{l−1}),  ΔW_l = −η δ_l a_{l−1}ᵀ"
    reference = "Rumelhart, Hinton & Williams 1986"
    needs = Needs(labels=True, differentiable=True, weight_transport=True)
    local = False
    signal = "online_loss"
    Params = BackpropParams
    update = staticmethod(backprop_update)
    sgd_online = staticmethod(backprop_sgd_online)
    # For tiny nets, rulelab.core.straight writes this kernel's step out (the same numbers, faster).
    straight_line_for = staticmethod(backprop_sgd_online)
    mode = G.BACKPROP

"""e-prop (Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein & Maass 2020) for leaky rate units: online, local
eligibility traces times a learning signal broadcast from the readout; no backward pass through time."""

from __future__ import annotations

from typing import Literal

from rulelab.rule import Field, Needs
from rulelab.tasks import recurrent as R
from rulelab.tasks.sequence import SequenceParams, SequenceRule


class EpropParams(SequenceParams):
    feedback: Literal["random", "symmetric"] = Field(
        "random", description="learning signal through a fixed random B (random e-prop) or the readout V itself "
                              "(symmetric e-prop)")


class Eprop(SequenceRule):
    name = "eprop"
    summary = ("Online and local: each synapse keeps an eligibility trace of its presynaptic activity (filtered by "
               "the unit's leak) times its unit's G′; a learning signal B e_t from the readout turns it into a "
               "weight change at every step.")
    equation = "ε_t = α ε_{t−1} + (1−α) s_{t−1},  e_ji^t = G′(h_j^t) ε_i^t,  ΔW_ji = −η Σ_t (B e_t)_j e_ji^t"
    reference = "Bellec et al. 2020, Nat. Commun. 11:3625"
    needs = Needs(labels=True, differentiable=True, weight_transport=False)
    local = True
    Params = EpropParams
    mode = R.EPROP
    feedback = "random"

    def feedback_kind(self) -> str:
        return "random" if self.params.feedback == "random" else "transpose"

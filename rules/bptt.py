"""Backpropagation through time (notes 004; Werbos 1990), full or truncated, and feedback alignment for its readout."""

from __future__ import annotations

from rulelab.rule import Needs
from rulelab.tasks import recurrent as R
from rulelab.tasks.sequence import SequenceParams, SequenceRule


class BPTT(SequenceRule):
    name = "bptt"
    summary = ("The recurrent net unrolled over the sequence and backpropagated: the whole history stored and "
               "played backwards; truncation: k steps at a time; clipping by global norm.")
    equation = "δ_t = G′(h_t) ⊙ (Vᵀ e_t + Wᵀ δ_{t+1}),  ∂W = Σ_t δ_t s_{t−1}ᵀ,  ∂U = Σ_t δ_t x_tᵀ"
    reference = "Werbos 1990; Williams & Peng 1990 (truncated)"
    Params = SequenceParams
    mode = R.BPTT
    feedback = "transpose"


class BPTTFeedbackAlignment(SequenceRule):
    name = "bptt_feedback_alignment"
    summary = ("BPTT whose readout error reaches the hidden units through a fixed random B instead of Vᵀ "
               "(feedback alignment for the readout); the recurrence is still unrolled with Wᵀ.")
    equation = "δ_t = G′(h_t) ⊙ (B e_t + Wᵀ δ_{t+1}),  B fixed random (C×H)"
    reference = "Lillicrap, Cownden, Tweed & Akerman 2016"
    needs = Needs(labels=True, differentiable=True, weight_transport=True)
    Params = SequenceParams
    mode = R.BPTT
    feedback = "random"

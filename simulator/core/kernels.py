"""The kernel author's toolbox: every compiled building block a rule uses, in one namespace.

    from rulelab.core import kernels as K

A network's parameters live in one flat vector ``params``; the int64 table ``layout``
(one row per layer, see :mod:`rulelab.core.layout`) says where each layer's weights and
biases start (``K.W_OFF``, ``K.B_OFF``), its sizes (``K.N_IN``, ``K.N_OUT``), its
activation (``K.ACT``), where its outputs sit in an activation buffer (``K.A_OFF``), its
tie (``K.TIE``) and kind (``K.KIND``).  The helpers work in place on caller-provided
buffers, so a per-sample loop allocates nothing; they live in the modules named below
and are gathered here so that a rule imports one thing.
"""

from __future__ import annotations

from rulelab.core.activations import (ACTIVATION_CODES, ACTIVATION_NAMES, LEAKY_RELU, LINEAR, NON_DIFFERENTIABLE,
                                      RELU, SIGMOID, SIGN, SOFTMAX, STEP, TANH, activate_into, activate_scalar,
                                      derivative_scalar, softmax_into)
from rulelab.core.layers import (add_step, evaluate, forward, forward_to, layer_forward, output_input,
                                 predict_all, send_error_down)
from rulelab.core.layout import (A_OFF, ACT, B_OFF, DENSE, G0, KIND, LAYOUT_COLUMNS, N_IN, N_OUT, TIE, W_OFF, bias,
                                 layer_buffer, n_params, n_units, weights)
from rulelab.core.losses import CROSS_ENTROPY, HINGE, LOSS_CODES, SQUARED, output_delta, predict_class, sample_loss
from rulelab.core.rows import FAST, NO_REFCOUNT, row_add, row_dot

__all__ = [
    "ACTIVATION_CODES", "ACTIVATION_NAMES", "LEAKY_RELU", "LINEAR", "NON_DIFFERENTIABLE", "RELU", "SIGMOID", "SIGN",
    "SOFTMAX", "STEP", "TANH", "activate_into", "activate_scalar", "derivative_scalar", "softmax_into",
    "add_step", "evaluate", "forward", "forward_to", "layer_forward", "output_input", "predict_all",
    "send_error_down", "A_OFF", "ACT", "B_OFF", "DENSE", "G0", "KIND", "LAYOUT_COLUMNS", "N_IN", "N_OUT", "TIE",
    "W_OFF", "bias", "layer_buffer", "n_params", "n_units", "weights", "CROSS_ENTROPY", "HINGE", "LOSS_CODES",
    "SQUARED", "output_delta", "predict_class", "sample_loss", "FAST", "NO_REFCOUNT", "row_add", "row_dot",
]

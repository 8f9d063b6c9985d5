"""The kernel author's toolbox: every compiled building block a rule uses, in one namespace.

    from rulelab.core import kernels as K

A network's parameters live in one flat vector ``params``; the int64 table ``layout``
(one row per layer, see :mod:`rulelab.core.layout`) says where each layer's weights and
biases start (``K.W_OFF``, ``K.B_OFF``), its sizes (``K.N_IN``, ``K.N_OUT``), its
activation (``K.ACT``), where its outputs sit in an activation buffer (``K.A_OFF``), its
tie (``K.TIE``) and kind (``K.KIND``: ``K.DENSE``, ``K.CONV``, ``K.LOCAL``, the poolings, ``K.FLATTEN``,
``K.DROPOUT``), with a conv or pooling layer's geometry in ``K.C_IN`` … ``K.PW``.  The helpers work in place on caller-provided
buffers, so a per-sample loop allocates nothing; they live in the modules named below
and are gathered here so that a rule imports one thing.
"""

from __future__ import annotations

from rulelab.core.activations import (ACTIVATION_CODES, ACTIVATION_NAMES, LEAKY_RELU, LINEAR, NON_DIFFERENTIABLE,
                                      RELU, SIGMOID, SIGN, SOFTMAX, STEP, TANH, activate_into, activate_scalar,
                                      derivative_scalar, softmax_into)
from rulelab.core.layers import (add_step, error_through, evaluate, forward, forward_seeded, forward_to,
                                 layer_forward, output_input, predict_all, send_error_down)
from rulelab.core.layout import (A_OFF, ACT, AVG_POOL, B_OFF, C_IN, C_OUT, CONV, DENSE, DROPOUT, FLATTEN, G0, H_IN,
                                 H_OUT, KH, KIND, KW, L2_POOL, LAYOUT_COLUMNS, LOCAL, MAX_POOL, N_IN, N_OUT, PH, PW,
                                 SH, SW, TIE, W_IN, W_OFF, W_OUT, bias, has_parameters, kernel_size, layer_buffer,
                                 n_biases, n_params, n_units, weight_rows, weights)
from rulelab.core.losses import CROSS_ENTROPY, HINGE, LOSS_CODES, SQUARED, output_delta, predict_class, predict_net, sample_loss, scores_by_net_input
from rulelab.core.rows import FAST, NO_REFCOUNT, row_add, row_dot

__all__ = [
    "ACTIVATION_CODES", "ACTIVATION_NAMES", "LEAKY_RELU", "LINEAR", "NON_DIFFERENTIABLE", "RELU", "SIGMOID", "SIGN",
    "SOFTMAX", "STEP", "TANH", "activate_into", "activate_scalar", "derivative_scalar", "softmax_into",
    "add_step", "error_through", "evaluate", "forward", "forward_seeded", "forward_to", "layer_forward",
    "output_input", "predict_all", "send_error_down", "A_OFF", "ACT", "AVG_POOL", "B_OFF", "C_IN", "C_OUT", "CONV",
    "DENSE", "DROPOUT", "FLATTEN", "G0", "H_IN", "H_OUT", "KH", "KIND", "KW", "L2_POOL", "LAYOUT_COLUMNS", "LOCAL",
    "MAX_POOL", "N_IN", "N_OUT", "PH", "PW", "SH", "SW", "TIE", "W_IN", "W_OFF", "W_OUT", "bias", "has_parameters",
    "kernel_size", "layer_buffer", "n_biases", "n_params", "n_units", "weight_rows", "weights", "CROSS_ENTROPY", "HINGE", "LOSS_CODES",
    "SQUARED", "output_delta", "predict_class", "predict_net", "sample_loss", "scores_by_net_input", "FAST", "NO_REFCOUNT", "row_add",
    "row_dot",
]

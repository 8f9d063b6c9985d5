"""Straight-line online SGD kernels for tiny dense nets: the generic step written out for one net's shape.

A 2-2-1 net's online backprop step costs ~100 ns through the generic kernel
(:func:`rulelab.core.gradient.sgd_online_dense_step`) against ~45 ns written by hand: the difference is
not the arithmetic but the generic structure — loops of run-time length over layers and units, each
layer's z, a and δ stored to the state and loaded back, every read of the flat parameters possibly
aliased by a write.  Freezing the layout as a constant did not help (measured: LLVM keeps the loops).
For nets with few weights, this module writes the step out as Python source, one statement per
operation, every value a local, and compiles it like any kernel:

    θ ← θ − η_t ∂E/∂θ   (backprop: δ_{l−1} = (W_lᵀ δ_l) ⊙ g′(z_{l−1}); feedback alignment: Bᵀ in place of Wᵀ)

**The same operations in the same order as the generic step**, so the same numbers bit for bit (tested on
many shapes, activations and losses): each unit's weighted input is :func:`rulelab.core.rows.row_dot`'s
eight lane sums, combined pairwise, then the tail; a layer's error is sent down before its weights
change; the activations, derivatives and losses are the core's own inline functions with the code
written in.  The state's z, a and δ slots are not written (nothing reads them between steps).

A kernel's source is written once per shape into the kernel cache directory (named by the core's
fingerprint, so a change here makes new ones) and compiled with ``cache=True``: a new shape costs one
compile per machine (0.3–0.65 s measured), then loads like every other kernel.  Where a kernel cannot be
written or compiled, the engine gets the generic step: the same numbers, slower.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from rulelab.core import jit
from rulelab.core.activations import SOFTMAX
from rulelab.core.gradient import BACKPROP, FEEDBACK, P, feedback_start
from rulelab.core.layout import ACT, B_OFF, DENSE, KIND, N_IN, N_OUT, W_OFF, n_params, n_units
from rulelab.core.losses import CROSS_ENTROPY, SQUARED
from rulelab.core.simd import LANES

# Nets up to this many parameters get a straight-line kernel: the generic step's overhead is a fixed cost per
# layer and unit, so it matters for tiny nets only, and the source (and its compile) grows with the weights.
MAX_PARAMETERS = 160

_kernels: dict[tuple, object] = {}


def eligible(layout: np.ndarray, loss_code: int, mode: int, dtype: str) -> bool:
    """Whether :func:`straight_kernel` has a form for this net: float64, all dense, no hidden softmax, a
    squared or cross-entropy loss, backprop or feedback alignment, at most MAX_PARAMETERS parameters."""
    if dtype != "float64" or mode not in (BACKPROP, FEEDBACK) or loss_code not in (SQUARED, CROSS_ENTROPY):
        return False
    if not bool(np.all(layout[:, KIND] == DENSE)) or bool(np.any(layout[:-1, ACT] == SOFTMAX)):
        return False
    return int(n_params(layout)) <= MAX_PARAMETERS


def straight_kernel(layout: np.ndarray, loss_code: int, mode: int, dtype: str):
    """The compiled straight-line kernel for this net (the online kernel signature), or None where
    :func:`eligible` says there is none."""
    if not eligible(layout, loss_code, mode, dtype):
        return None
    net_key = (layout.tobytes(), layout.shape, loss_code, mode)  # every plan asks: its source is written once
    kernel = _kernels.get(net_key)
    if kernel is None:
        source = kernel_source(layout, loss_code, mode)
        try:
            kernel = _load(hashlib.sha256(source.encode()).hexdigest()[:16], source)
        except Exception:  # a cache folder that cannot be written, or a compile that failed
            return None  # the generic step: the same numbers (tests/test_straight.py checks every form compiles)
        _kernels[net_key] = kernel
    return kernel


def _load(key: str, source: str):
    """Write the source (once: the name is its hash) and import it; Numba caches beside the other kernels."""
    folder = Path(jit.CACHE_DIR) / "straight"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"straight_{key}.py"
    if not path.exists():
        temporary = folder / f".straight_{key}.{os.getpid()}.tmp"
        temporary.write_text(source)
        os.replace(temporary, path)  # whole or not at all, when two processes write it at once
    name = f"rulelab_straight_{key}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)  # compiles (or loads from the cache) the kernel
        except BaseException:
            del sys.modules[name]
            raise
    return module.kernel


# ------------------------------------------------------------------ the source


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append("    " + line)


def _dot(w: _Writer, target: str, offset: int, inputs: list[str]) -> None:
    """target = Σ params[offset + i] · inputs[i] in row_dot's order: lane k sums i ≡ k (mod 8) in ascending i
    from 0, the lanes combine as ((0+1)+(2+3))+((4+5)+(6+7)), then the tail adds one at a time."""
    n = len(inputs)
    blocks = n // LANES
    for k in range(LANES):
        w(f"l{k} = 0.0")
        for b in range(blocks):
            i = LANES * b + k
            w(f"l{k} += params[{offset + i}] * {inputs[i]}")
    w(f"{target} = ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))")
    for i in range(blocks * LANES, n):
        w(f"{target} += params[{offset + i}] * {inputs[i]}")


def _activate(w: _Writer, layer: int, code: int, zs: list[str], out: list[str]) -> None:
    if code == SOFTMAX:  # softmax_into's order: the largest z, exp(z − largest), their sum, each divided
        w(f"m = {zs[0]}")
        for z in zs[1:]:
            w(f"if {z} > m:")
            w(f"    m = {z}")
        w("total = 0.0")
        for z, a in zip(zs, out):
            w(f"{a} = np.exp({z} - m)")
            w(f"total += {a}")
        for a in out:
            w(f"{a} = {a} / total")
        return
    for z, a in zip(zs, out):
        w(f"{a} = activate_scalar({code}, act_args[{layer}], {z})")


def _output_delta(w: _Writer, loss_code: int, code: int, last: int, zs: list[str], os_: list[str],
                  ts: list[str], ds: list[str]) -> None:
    """rulelab.core.losses.output_delta for a squared or cross-entropy loss."""
    if loss_code == CROSS_ENTROPY:
        for d, o, t in zip(ds, os_, ts):
            w(f"{d} = {o} - {t}")
        return
    if code == SOFTMAX:
        w("dot = 0.0")
        for o, t in zip(os_, ts):
            w(f"dot += ({o} - {t}) * {o}")
        for d, o, t in zip(ds, os_, ts):
            w(f"{d} = {o} * (({o} - {t}) - dot)")
        return
    for d, z, o, t in zip(ds, zs, os_, ts):
        w(f"{d} = ({o} - {t}) * derivative_scalar({code}, act_args[{last}], {z}, {o})")


def _sample_loss(w: _Writer, loss_code: int, code: int, os_: list[str], ts: list[str]) -> None:
    """rulelab.core.losses.sample_loss for a squared or cross-entropy loss, into ``loss``."""
    w("loss = 0.0")
    if loss_code == CROSS_ENTROPY and code != SOFTMAX:
        for o, t in zip(os_, ts):
            w(f"o = min(max({o}, 1e-12), 1.0 - 1e-12)")
            w(f"loss -= {t} * np.log(o) + (1.0 - {t}) * np.log(1.0 - o)")
    elif loss_code == CROSS_ENTROPY:
        for o, t in zip(os_, ts):
            w(f"if {t} > 0.0:")
            w(f"    loss -= {t} * np.log(max({o}, 1e-12))")
    else:
        for o, t in zip(os_, ts):
            w(f"e = {t} - {o}")
            w("loss += 0.5 * e * e")


def kernel_source(layout: np.ndarray, loss_code: int, mode: int) -> str:
    """The Python source of the straight-line kernel of this net (see the module docstring)."""
    rows = [tuple(int(v) for v in layout[layer]) for layer in range(layout.shape[0])]
    last = len(rows) - 1
    feedback_at = feedback_start(int(n_units(layout)), int(n_params(layout)))  # where the state keeps B
    w = _Writer()
    w("t = state[0]")  # next_step: count the update, η_t = η / (1 + decay · t)
    w("state[0] = t + 1.0")
    w(f"scale = -(hp[{P.lr}] / (1.0 + hp[{P.lr_decay}] * t))")
    w("x = X[lo]")
    w("y = Y[lo]")
    inputs = [f"x[{i}]" for i in range(rows[0][N_IN])]
    zs, acts = [], []
    for layer, row in enumerate(rows):
        z = [f"z{layer}_{j}" for j in range(row[N_OUT])]
        a = [f"a{layer}_{j}" for j in range(row[N_OUT])]
        source = inputs if layer == 0 else acts[-1]
        for j in range(row[N_OUT]):
            _dot(w, "s", row[W_OFF] + j * row[N_IN], source)
            w(f"{z[j]} = params[{row[B_OFF] + j}] + s")
        _activate(w, layer, row[ACT], z, a)
        zs.append(z)
        acts.append(a)
    targets = [f"y[{k}]" for k in range(rows[last][N_OUT])]
    deltas = [[f"d{layer}_{j}" for j in range(row[N_OUT])] for layer, row in enumerate(rows)]
    _output_delta(w, loss_code, rows[last][ACT], last, zs[last], acts[last], targets, deltas[last])
    _sample_loss(w, loss_code, rows[last][ACT], acts[last], targets)
    for layer in range(last, -1, -1):
        row = rows[layer]
        below = inputs if layer == 0 else acts[layer - 1]
        if layer > 0:  # the error for the layer below, before this layer's weights change
            # W_l itself (backprop), or feedback alignment's fixed B_l where the state keeps it
            matrix, at = ("params", row[W_OFF]) if mode == BACKPROP else ("state",
                                                                          feedback_at + _b_offset(rows, layer))
            for i in range(row[N_IN]):
                w("e = 0.0")
                for j in range(row[N_OUT]):
                    w(f"e += {deltas[layer][j]} * {matrix}[{at + j * row[N_IN] + i}]")
                prev = rows[layer - 1]
                w(f"{deltas[layer - 1][i]} = e * derivative_scalar({prev[ACT]}, act_args[{layer - 1}], "
                  f"{zs[layer - 1][i]}, {acts[layer - 1][i]})")
        for j in range(row[N_OUT]):  # dense_add_step: W_j += (scale δ_j) x, b_j += scale δ_j
            w(f"g = scale * {deltas[layer][j]}")
            for i, value in enumerate(below):
                w(f"params[{row[W_OFF] + j * row[N_IN] + i}] += g * {value}")
            w(f"params[{row[B_OFF] + j}] += scale * {deltas[layer][j]}")
    w("return loss")
    header = (
        '"""Generated by rulelab.core.straight: one net\'s online SGD step, written out (do not edit)."""\n'
        "import numpy as np\n"
        "from numba import njit\n"
        "from rulelab.core.activations import activate_scalar, derivative_scalar\n"
        "from rulelab.rule import kernel_signature\n\n\n"
        '@njit([kernel_signature("float64")], cache=True, _nrt=False)\n'
        "def kernel(params, layout, act_args, state, hp, X, Y, lo, hi):\n"
    )
    return header + "\n".join(w.lines) + "\n"


def _b_offset(rows: list[tuple[int, ...]], layer: int) -> int:
    """Where layer ``layer``'s B starts among the feedback matrices (layers 1 … L, in order)."""
    return sum(rows[h][B_OFF] - rows[h][W_OFF] for h in range(1, layer))

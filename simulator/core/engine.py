"""The compiled training loop for online rules.

One engine per parameter dtype, each declared with an explicit signature whose
first argument is a first-class function type.  That makes the engine hit
Numba's on-disk cache in a new process (see shared DESIGN notes): an engine that
received an untyped dispatcher would be recompiled in every process.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from rulelab.rule import kernel_signature


def _engine_signature(dtype: str) -> types.Signature:
    ksig = kernel_signature(dtype)
    f = types.float32 if dtype == "float32" else types.float64
    return types.float64(
        types.FunctionType(ksig),
        types.Array(f, 1, "C"),
        types.Array(types.int64, 2, "C"),
        types.Array(types.float64, 1, "C"),
        types.Array(f, 1, "C"),
        types.Array(types.float64, 1, "C"),
        types.Array(f, 2, "C"),
        types.Array(f, 2, "C"),
        types.int64,
    )


def _train_epoch(update, params, layout, act_args, state, hp, X, Y, batch_size):
    """One pass over (X, Y) in row order, one ``update`` call per minibatch; returns Σ signal."""
    total = 0.0
    n = X.shape[0]
    for start in range(0, n, batch_size):
        total += update(params, layout, act_args, state, hp, X, Y, start, min(start + batch_size, n))
    return total


# Both dtypes as explicit signatures of one dispatcher: one cache index, no
# lazy compilation, and a wrong kernel arity fails with a signature mismatch.
_engine = njit([_engine_signature("float64"), _engine_signature("float32")], cache=True)(_train_epoch)


def train_epoch(update, params: np.ndarray, layout: np.ndarray, act_args: np.ndarray,
                state: np.ndarray, hp: np.ndarray, X: np.ndarray, Y: np.ndarray,
                batch_size: int) -> float:
    """Run one epoch of an online rule over (X, Y), already in the order to visit."""
    return float(_engine(update, params, layout, act_args, state, hp, X, Y, int(batch_size)))

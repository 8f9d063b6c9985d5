"""One unit's weighted input and one unit's update, read and written straight in the flat vector.

Kernels are compiled with strict IEEE arithmetic (FAST is empty): with reassociation or
contraction, LLVM's choices depend on the compilation context, and code compiled in one
process and loaded from the cache in another then differed in the last bit (measured).
Same scenario and seed must give the same numbers, so the dot product below fixes its own
order instead: eight independent partial sums, run as one explicit vector
(:mod:`rulelab.core.simd`) and never reordered.  Kernels still declare fastmath=FAST, so a
future deterministic flag set can be switched on in one place.
"""

from __future__ import annotations

from numba import njit

from rulelab.core import jit  # noqa: F401  (sets the kernel cache directory before any @njit below)
from rulelab.core.simd import LANES, lane_sums

FAST: set[str] = set()
# Per-sample kernels that allocate nothing are compiled without Numba's reference counting: with it,
# every array view a kernel makes (a layer's slice of a buffer) costs two atomic operations, about half
# of a 2-2-1 net's online step.  Numba refuses to compile such a kernel if it allocates; the code it
# calls without inlining (the conv kinds' passes) counts its own references.
NO_REFCOUNT = {"_nrt": False}


@njit(cache=True, inline="always")
def row_dot(params, offset, x):
    """Σ_i params[offset + i] · x[i]: one unit's weighted input, read straight from the flat vector.

    Eight partial sums (lane k takes i ≡ k mod 8, in ascending i), combined pairwise, then
    the tail — an order written here, not chosen by the compiler; the eight run as one
    vector (:mod:`rulelab.core.simd`).  Sums stay in the parameters' dtype: float32 nets keep
    float32 lanes.
    """
    n = x.shape[0]
    blocks = n // LANES
    s0, s1, s2, s3, s4, s5, s6, s7 = lane_sums(params, offset, x, blocks)
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for i in range(blocks * LANES, n):
        s += params[offset + i] * x[i]
    return s


@njit(cache=True, inline="always")
def row_add(params, offset, scale, x):
    """params[offset + i] += scale · x[i]: one unit's weight update, in place."""
    s = params.dtype.type(scale)  # one rounding, then the loop runs in the parameters' dtype
    w = params[offset:offset + x.shape[0]]  # indexed from 0: no wraparound check (see row_dot)
    for i in range(x.shape[0]):
        w[i] += s * x[i]

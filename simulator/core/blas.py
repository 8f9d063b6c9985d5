"""An in-place matrix product for compiled code: C ← α A B + β C in one BLAS call.

``np.dot`` in Numba always writes a fresh product; a minibatch SGD step written with it
allocates the weight gradient, copies it, and makes a second pass to apply it.  GEMM's own
α and β do all of that inside the product: W ← W − η Dᵀ A is one call, no temporary.
It uses the BLAS Numba itself binds (SciPy's), so compiled callers stay cacheable.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload


def add_product(c, a, b, alpha, beta):
    """c ← alpha · (a @ b) + beta · c, in place (c C-contiguous; a and b contiguous or transposed
    views; beta = 0 never reads c).  Compiled code calls BLAS directly (the overload below);
    this NumPy body runs under NUMBA_DISABLE_JIT=1."""
    if b.shape[0] != a.shape[1] or c.shape != (a.shape[0], b.shape[1]):
        raise ValueError("add_product: shapes do not match")
    product = alpha * (a @ b)
    c[...] = product if beta == 0.0 else product + beta * c


@overload(add_product)
def _add_product_impl(c, a, b, alpha, beta):
    arrays = (c, a, b)
    if not all(isinstance(x, types.Array) and x.ndim == 2 and x.dtype == c.dtype for x in arrays):
        return None
    if c.layout != "C" or a.layout not in "CF" or b.layout not in "CF" or c.dtype not in (types.float32,
                                                                                           types.float64):
        return None
    # Imported when a caller compiles, not at import: a run that loads its kernels from the
    # cache never needs Numba's linear-algebra module (~30 ms to import).
    from numba.np.linalg import _BLAS, get_blas_kind
    from numba.np.numpy_support import as_dtype

    xxgemm = _BLAS().numba_xxgemm(c.dtype)
    kind = ord(get_blas_kind(c.dtype))
    dtype = as_dtype(c.dtype)
    # BLAS is column-major: it sees the row-major C as Cᵀ = Bᵀ Aᵀ.  A row-major (C) operand is
    # already the transpose BLAS wants ('n'); a transposed view (F) is passed as 't'.
    trans_a = ord("n") if a.layout == "C" else ord("t")
    trans_b = ord("n") if b.layout == "C" else ord("t")
    a_rows_major = a.layout == "C"
    b_rows_major = b.layout == "C"

    def impl(c, a, b, alpha, beta):
        m, k = a.shape
        n = b.shape[1]
        if b.shape[0] != k or c.shape[0] != m or c.shape[1] != n:
            raise ValueError("add_product: shapes do not match")
        if m == 0 or n == 0:
            return
        lda = k if a_rows_major else m
        ldb = n if b_rows_major else k
        scalars = np.empty(2, dtype)
        scalars[0] = alpha
        scalars[1] = beta
        if k == 0:  # an empty sum: BLAS may reject k = 0
            if beta == 0.0:
                c[:, :] = 0.0
            else:
                c *= scalars[1]
            return
        status = xxgemm(kind, trans_b, trans_a, n, m, k, scalars[0:1].ctypes, b.ctypes, ldb, a.ctypes, lda,
                        scalars[1:2].ctypes, c.ctypes, n)
        if status < 0:
            raise RuntimeError("add_product: the BLAS matrix product failed")

    return impl

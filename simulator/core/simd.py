"""A dot product in explicit vector lanes: as fast as a vectorised loop, and the same bits everywhere.

Numba compiles without reassociation (see ``kernels.FAST``) and with LLVM's SLP
vectoriser switched off (Numba turned it off after miscompilations), so a
reduction written in Python — even as eight partial sums — runs one scalar
multiply-add at a time, bound by its loads (0.63 µs for the 64-32-10 net's
forward products, measured).  :func:`lane_sums` writes the eight partial sums
as one LLVM vector instead: lane k accumulates the products i ≡ k (mod 8) in
ascending i, exactly the order of the scalar code, with plain ``fmul`` and
``fadd`` (no fused multiply-add, no fast-math flags).  Measured on the same
products: 0.12 µs, bit-identical to the scalar order for float32 and float64.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

LANES = 8


@intrinsic
def _vector_lane_sums(typingctx, w, offset, x, blocks):
    """s_k = Σ_{b < blocks} w[offset + 8b + k] · x[8b + k] for k < 8, as one 8-lane vector loop."""
    sig = types.UniTuple(w.dtype, LANES)(w, offset, x, blocks)

    def codegen(context, builder, signature, args):
        w_arg, offset_arg, x_arg, blocks_arg = args
        w_array = context.make_array(signature.args[0])(context, builder, w_arg)
        x_array = context.make_array(signature.args[2])(context, builder, x_arg)
        element = context.get_value_type(signature.args[0].dtype)
        vector = ir.VectorType(element, LANES)
        align = context.get_abi_sizeof(element)
        w_start = builder.gep(w_array.data, [offset_arg])
        total = cgutils.alloca_once_value(builder, ir.Constant(vector, [ir.Constant(element, 0.0)] * LANES))
        with cgutils.for_range(builder, blocks_arg) as loop:
            i = builder.mul(loop.index, ir.Constant(loop.index.type, LANES))
            w_lanes = builder.load(builder.bitcast(builder.gep(w_start, [i]), vector.as_pointer()), align=align)
            x_lanes = builder.load(builder.bitcast(builder.gep(x_array.data, [i]), vector.as_pointer()),
                                   align=align)
            builder.store(builder.fadd(builder.load(total), builder.fmul(w_lanes, x_lanes)), total)
        lanes = builder.load(total)
        items = [builder.extract_element(lanes, ir.Constant(ir.IntType(32), k)) for k in range(LANES)]
        return context.make_tuple(builder, signature.return_type, items)

    return sig, codegen


def lane_sums(w, offset, x, blocks):
    """The eight partial sums s_k = Σ_{b < blocks} w[offset + 8b + k] · x[8b + k], in ascending b.

    Compiled code gets one vector loop for contiguous float arrays (see the overload below);
    this body is the same order one product at a time: what strided views, mixed or integer
    dtypes compile to, and what runs under NUMBA_DISABLE_JIT=1 (debugging a plug-in).
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = w.dtype.type(0)
    for b in range(blocks):
        i = LANES * b
        s0 += w[offset + i] * x[i]
        s1 += w[offset + i + 1] * x[i + 1]
        s2 += w[offset + i + 2] * x[i + 2]
        s3 += w[offset + i + 3] * x[i + 3]
        s4 += w[offset + i + 4] * x[i + 4]
        s5 += w[offset + i + 5] * x[i + 5]
        s6 += w[offset + i + 6] * x[i + 6]
        s7 += w[offset + i + 7] * x[i + 7]
    return s0, s1, s2, s3, s4, s5, s6, s7


@overload(lane_sums, inline="always")
def _lane_sums_impl(w, offset, x, blocks):
    contiguous = (isinstance(w, types.Array) and isinstance(x, types.Array) and w.layout == "C"
                  and x.layout == "C" and w.dtype == x.dtype and w.dtype in (types.float32, types.float64))
    if contiguous:
        def vector(w, offset, x, blocks):
            return _vector_lane_sums(w, offset, x, blocks)
        return vector
    return lane_sums

"""A monotonic clock that compiled code can read: wall time per epoch without leaving the run.

``monotonic_ns()`` calls the C library's ``clock_gettime(CLOCK_MONOTONIC)`` from inside
compiled code (an LLVM call to the symbol, resolved when the code is loaded, so kernels
that use it stay cacheable — a ctypes function pointer would not be).  Under
``NUMBA_DISABLE_JIT=1`` it is Python's ``time.monotonic_ns`` (the same clock).
"""

from __future__ import annotations

import time

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

CLOCK_MONOTONIC = 1  # Linux and macOS


@intrinsic
def _clock_gettime_ns(typingctx):
    """Nanoseconds of CLOCK_MONOTONIC: tv_sec · 10⁹ + tv_nsec (struct timespec of two 64-bit fields)."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        i64, i32 = ir.IntType(64), ir.IntType(32)
        timespec = ir.LiteralStructType([i64, i64])
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i32, [i32, timespec.as_pointer()]),
                                            "clock_gettime")
        ts = cgutils.alloca_once(builder, timespec)
        builder.call(fn, [ir.Constant(i32, CLOCK_MONOTONIC), ts])
        zero = ir.Constant(i32, 0)
        seconds = builder.load(builder.gep(ts, [zero, zero]))
        nanos = builder.load(builder.gep(ts, [zero, ir.Constant(i32, 1)]))
        return builder.add(builder.mul(seconds, ir.Constant(i64, 1_000_000_000)), nanos)

    return sig, codegen


def monotonic_ns() -> int:
    """Nanoseconds on the monotonic clock (the plain-Python body runs with NUMBA_DISABLE_JIT=1)."""
    return time.monotonic_ns()


@overload(monotonic_ns, inline="always")
def _monotonic_ns_impl():
    def impl():
        return _clock_gettime_ns()
    return impl

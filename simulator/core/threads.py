"""BLAS at one thread while compiled code runs: the outer loops (members, probes) are the parallel ones.

With OpenBLAS's threads and the compiled code's worker threads both spinning on two cores,
a CMA-ES generation of n = 100 took 89 ms instead of 1 ms (measured with another process
busy on the second core): small products never gain from more BLAS threads.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

_CONTROLLER: Any = None
_WORKERS_STARTED = False
# The open single_threaded_blas blocks that set the limit (it is the process's, not a thread's): for each, whether
# the workers had started when it did.
_OPEN: list[bool] = []


@contextlib.contextmanager
def single_threaded_blas(parallel: bool = True) -> Iterator[None]:
    """Hold BLAS at one thread for the block's duration.

    With ``parallel``, the compiled code's worker threads are started first — before the limit,
    or the limit misses the workers' BLAS calls.  Online runs never use them, and starting
    them costs about half a second (measured): they pass ``parallel=False``.  Setting and
    restoring the limit costs ~26 µs (measured; the loaded libraries are inspected once); inside an
    open block that needs nothing more (the runner holds one around a whole scenario) ~2 µs."""
    global _CONTROLLER, _WORKERS_STARTED
    if _OPEN and (not parallel or any(_OPEN)):
        yield  # the limit an open block set serves this one as it is
        return
    from threadpoolctl import ThreadpoolController

    if parallel and not _WORKERS_STARTED:
        from rulelab.core.population import start_parallel_threads

        start_parallel_threads()
        _WORKERS_STARTED = True
        _CONTROLLER = None  # inspect again: the workers' libraries are loaded now
    if _CONTROLLER is None:  # inspecting the loaded libraries is the slow part: do it once
        _load_compiled_codes_blas()
        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        _OPEN.append(_WORKERS_STARTED)
        try:
            yield
        finally:
            _OPEN.pop()


def _load_compiled_codes_blas() -> None:
    """Load the BLAS that compiled code calls (Numba's np.dot and friends go through SciPy's), so that the
    limit covers it.  Loading a cached kernel loads it too, but often after the first limit was set: the
    libraries are inspected once, and SciPy's OpenBLAS then kept all its threads (seen: 2 of 2 here)."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:  # no SciPy: compiled code has no BLAS to call either
        pass

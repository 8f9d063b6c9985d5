"""BLAS at one thread while compiled code runs: the outer loops (members, probes) are the parallel ones.

With OpenBLAS's threads and the compiled code's worker threads both spinning on two cores,
a CMA-ES generation of n = 100 took 89 ms instead of 1 ms (measured with another process
busy on the second core): small products never gain from more BLAS threads.
"""

from __future__ import annotations

from typing import Any

_CONTROLLER: Any = None
_WORKERS_STARTED = False


def single_threaded_blas(parallel: bool = True) -> Any:
    """A context manager holding BLAS at one thread for its duration.

    With ``parallel``, the compiled code's worker threads are started first — before the limit,
    or the limit misses the workers' BLAS calls.  Online runs never use them, and starting
    them costs about half a second (measured): they pass ``parallel=False``.  Entering it costs
    ~15 µs (the loaded libraries are inspected once)."""
    global _CONTROLLER, _WORKERS_STARTED
    from threadpoolctl import ThreadpoolController

    if parallel and not _WORKERS_STARTED:
        from rulelab.core.population import start_parallel_threads

        start_parallel_threads()
        _WORKERS_STARTED = True
        _CONTROLLER = None  # inspect again: the workers' libraries are loaded now
    if _CONTROLLER is None:  # inspecting the loaded libraries is the slow part: do it once
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")

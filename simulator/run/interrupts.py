"""Ctrl-C acted on only at safe points: between chunks of compiled work and between runs.

Inside :func:`deferred_interrupts` the first Ctrl-C only sets a flag; the run loops check
:func:`interrupt_requested` after each compiled chunk (about 0.1 s of work) and stop there,
keeping what finished.  A second Ctrl-C interrupts at once (the usual KeyboardInterrupt).
Outside it (a library caller), Python's own handling applies: KeyboardInterrupt is raised
when the current compiled call returns.

Signals and threads: Python runs signal handlers in the main thread only, between bytecodes,
never inside compiled code; the compiled code's worker threads are started with SIGINT
blocked (:func:`rulelab.core.population.start_parallel_threads`), so the kernel delivers it
to the main thread and nothing ever runs on a worker's stack.  Worker processes (``--jobs``)
keep a flag-only handler for their whole life (:func:`install_worker_handler`): a Ctrl-C that
reaches the whole process group stops their runs at the next chunk, as in the main process.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_requested = False


class Interrupted(Exception):
    """Ctrl-C was pressed; raised between chunks, never inside compiled code."""


def interrupt_requested() -> bool:
    """True once Ctrl-C was pressed inside :func:`deferred_interrupts`."""
    return _requested


def request_interrupt() -> None:
    """What the first Ctrl-C does: ask the run loops to stop at their next safe point."""
    global _requested
    _requested = True


def _on_sigint(signum: int, frame: object) -> None:
    if _requested:
        raise KeyboardInterrupt  # pressed twice: stop now
    request_interrupt()


_depth = 0
_hold_at_exit = False


def hold_until_exit() -> None:
    """For the ``rulelab`` process itself: once a command has deferred Ctrl-C, keep it a flag until the
    process ends.  Restoring Python's handler would let a Ctrl-C that lands while the finished command
    unwinds and the interpreter shuts down kill the process with KeyboardInterrupt (exit -2) after
    everything was written."""
    global _hold_at_exit
    _hold_at_exit = True


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within: Ctrl-C sets a flag instead of raising (main thread only; elsewhere a no-op).

    Re-entrant: an inner use (a command that runs several comparisons) keeps the outer one's
    handler and flag."""
    global _requested, _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    _requested = False
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        if _hold_at_exit:  # the command is ending: from here to the process's end a Ctrl-C is only a flag
            signal.signal(signal.SIGINT, _flag_only)
        else:  # a library caller gets its own handling back
            signal.signal(signal.SIGINT, previous)
            _requested = False


def _flag_only(signum: int, frame: object) -> None:
    request_interrupt()


def install_worker_handler() -> None:
    """In a worker process: every Ctrl-C only sets the flag (its parent decides when to stop; an idle
    worker must not die with a traceback)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _flag_only)
        # Started with SIGINT blocked (see LocalExecutor.submit): a Ctrl-C that came meanwhile is
        # delivered now, to the handler above.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


CHUNK_SECONDS = 0.1  # compiled work between two returns to Python: a progress bar moves, Ctrl-C is heard


def next_chunk(per_unit: float, seconds: float = CHUNK_SECONDS, most: int = 1 << 30) -> int:
    """How many units (epochs, blocks of probes) the next compiled call should take to last about ``seconds``,
    given the seconds one unit took so far: at least one, at most ``most``."""
    return int(min(max(seconds / max(per_unit, 1e-9), 1), most))


def check_interrupt() -> None:
    """Raise :class:`Interrupted` when Ctrl-C was pressed (for loops that run outside the compiled engines)."""
    if _requested:
        raise Interrupted

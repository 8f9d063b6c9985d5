"""Ctrl-C acted on only at safe points: between chunks of compiled work and between runs.

Inside :func:`deferred_interrupts` the first Ctrl-C only sets a flag; the run loops check
:func:`interrupt_requested` after each compiled chunk and stop there, keeping what
finished.  A second Ctrl-C interrupts at once (the usual KeyboardInterrupt).  Outside it
(a library caller), Python's own handling applies: KeyboardInterrupt is raised when the
current compiled call returns.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_requested = False


def interrupt_requested() -> bool:
    """True once Ctrl-C was pressed inside :func:`deferred_interrupts`."""
    return _requested


def request_interrupt() -> None:
    """What the first Ctrl-C does: ask the run loops to stop at their next safe point."""
    global _requested
    _requested = True


def _on_sigint(signum, frame) -> None:
    if _requested:
        raise KeyboardInterrupt  # pressed twice: stop now
    request_interrupt()


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within: Ctrl-C sets a flag instead of raising (main thread only; elsewhere a no-op)."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    _requested = False
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested = False

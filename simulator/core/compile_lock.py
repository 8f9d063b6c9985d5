"""One process compiles a cached overload at a time; the others wait for it, then load what it saved.

Worker processes (``rulelab run --jobs N``, test workers) that start with an empty kernel
cache all need the same kernels first.  Without coordination each compiles them itself: N
times the work on N cores, for nothing.  Worse, Numba writes a function's cache index as
read-modify-write with no lock: two processes saving two signatures of one function can
pick the same data file name, and the index can end up pointing at the other signature's
machine code.

So, for functions cached under rulelab's cache directory:

- compiling (or loading) one overload — a function and its argument types — holds an
  exclusive ``flock`` on a lock file of that overload beside the function's cache index.  A
  process that waited then finds the overload in the cache and loads it.  Other signatures
  of the same function compile meanwhile (float32 and float64 kernels side by side);
- loading from and saving to a function's cache hold that function's own lock file, briefly:
  the index's read-modify-write is one process's at a time, and a load never sees an index
  entry whose data file is not written yet.

Nested compiles follow the call graph from caller to callee, and a load or save waits for
nothing else: without a cycle in the call graph there is no cycle of waits.  Inside one process
Numba's global compiler lock is taken first, so threads never wait for each other's file
locks.  The operating system drops a lock when its process dies (``kill -9`` included).
Where there is no ``fcntl`` (Windows) nothing is locked and compiling is as Numba does it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from numba.core import caching as numba_caching
from numba.core import dispatcher as numba_dispatcher
from numba.core import sigutils
from numba.core.compiler_lock import global_compiler_lock

# Lock files this process holds, and how many times over: a compile may nest another of the same overload.
_held: dict[str, int] = {}


def index_path(cache) -> str | None:
    """The path of a Numba cache's index file, or None for a function that is not cached."""
    cache_file = getattr(cache, "_cache_file", None)
    index_name = getattr(cache_file, "_index_name", None)
    folder = getattr(cache, "_cache_path", None)
    return None if index_name is None or folder is None else os.path.join(folder, index_name)


def lock_path(dispatcher, args: tuple | None = None) -> str | None:
    """The lock file of one overload of ``dispatcher`` (of its cache index itself when ``args`` is None)."""
    index = index_path(getattr(dispatcher, "_cache", None))
    if index is None:
        return None
    if args is None:
        return index + ".lock"
    return f"{index}.{hashlib.sha1(repr(tuple(args)).encode()).hexdigest()[:16]}.lock"


@contextlib.contextmanager
def holding(path: str) -> Iterator[None]:
    """Hold the exclusive lock on ``path`` (re-entrant inside this process)."""
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def install(cache_dir: Path) -> bool:
    """Lock compiles, cache loads and cache saves of the functions cached under ``cache_dir``; True if installed."""
    if fcntl is None:
        return False
    root = str(cache_dir)
    compile_ = numba_dispatcher.Dispatcher.compile
    if not getattr(compile_, "_rulelab_locked", False):
        def compile(self, sig):
            args = _new_overload_args(self, sig)
            path = None if args is None else lock_path(self, args)
            if path is None or not path.startswith(root):
                return compile_(self, sig)
            with global_compiler_lock, holding(path):
                return compile_(self, sig)

        compile._rulelab_locked = True
        compile.__doc__ = compile_.__doc__
        numba_dispatcher.Dispatcher.compile = compile
    for name in ("load_overload", "save_overload"):
        _lock_index_around(name, root)
    return True


def _lock_index_around(name: str, root: str) -> None:
    """Make ``Cache.<name>`` hold the function's index lock: Numba saves the index before the data file it
    names, so a load between the two could read a name whose file is not written yet (or is another's)."""
    method = getattr(numba_caching.Cache, name)
    if getattr(method, "_rulelab_locked", False):
        return

    def locked(self, sig, *args):
        index = index_path(self)
        if index is None or not index.startswith(root):
            return method(self, sig, *args)
        with global_compiler_lock, holding(index + ".lock"):
            return method(self, sig, *args)

    locked._rulelab_locked = True
    locked.__doc__ = method.__doc__
    setattr(numba_caching.Cache, name, locked)


def _new_overload_args(dispatcher, sig) -> tuple | None:
    """The argument types of ``sig`` when this process does not hold that overload yet, else None."""
    try:
        args, _ = sigutils.normalize_signature(sig)
    except Exception:  # let Numba report a bad signature itself
        return None
    args = tuple(args)
    return None if args in dispatcher.overloads else args

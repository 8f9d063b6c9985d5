"""Where compiled kernels are cached, so that a change to the core never serves stale code.

Numba keys each cache entry on the source file of the function itself only. A
rule kernel (``rules/backprop.py``, or a user's plug-in) that calls core
helpers has those helpers compiled *into* its cache entry, and Numba would keep
serving that entry after the core changed. Caching under a directory named by a
hash of the core kernel sources makes every dependent entry fresh whenever the
core changes (an upgrade, or an edit in a development checkout).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

from rulelab.core import compile_lock
from rulelab.core import inlining  # noqa: F401  (faster inline="always": before any function compiles)

# Files whose code is compiled into (or decides the module names of) cached kernels: every
# module of the compiled core, and the rule contract and registry beside it.
_PACKAGE = Path(__file__).resolve().parent.parent
_CONTRACT_FILES = ("rule.py", "registry.py")


def core_files() -> list[Path]:
    return sorted((_PACKAGE / "core").glob("*.py")) + [_PACKAGE / name for name in _CONTRACT_FILES]


def core_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in core_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def configure_cache() -> Path:
    """Point Numba's cache at ``<base>/rulelab-<fingerprint>``; base is NUMBA_CACHE_DIR or the user cache."""
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "rulelab", "numba")
    path = Path(base) / f"rulelab-{core_fingerprint()}"
    # Read by Numba when each @njit(cache=True) function is decorated, so this must
    # run before any kernel module is imported: rulelab.core.kernels imports this first.
    numba.config.CACHE_DIR = str(path)
    return path


CACHE_DIR = configure_cache()
compile_lock.install(CACHE_DIR)  # worker processes with a cold cache compile each kernel once, not once each


class ByDtype:
    """A compiled function with one explicit signature per parameter dtype, made on its first call for that dtype.

    Explicit signatures make engines that take first-class functions cacheable (see
    :mod:`rulelab.core.engine`), but they are compiled — or loaded from the cache — when
    the decorator runs.  Deferring that to the first call keeps ``import`` cheap, and a
    float64 run never loads the float32 engine.
    """

    def __init__(self, py_func, signature_for, dtype_argument: int, **options):
        self.py_func = py_func
        self.signature_for = signature_for
        self.dtype_argument = dtype_argument
        self.options = options
        self.dispatchers: dict[str, object] = {}
        self.__doc__ = py_func.__doc__
        self.__name__ = py_func.__name__

    def for_dtype(self, dtype: str):
        dispatcher = self.dispatchers.get(dtype)
        if dispatcher is None:
            from numba import njit

            dispatcher = njit([self.signature_for(dtype)], cache=True, **self.options)(self.py_func)
            self.dispatchers[dtype] = dispatcher
        return dispatcher

    def __call__(self, *args):
        return self.for_dtype(args[self.dtype_argument].dtype.name)(*args)

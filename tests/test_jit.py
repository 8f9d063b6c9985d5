"""The kernel cache directory follows the core sources."""

from __future__ import annotations

import numba
import pytest

from rulelab.core import jit


def test_cache_dir_is_keyed_by_core_sources(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    before = numba.config.CACHE_DIR
    try:
        path = jit.configure_cache()
        assert path == tmp_path / f"rulelab-{jit.core_fingerprint()}"
        assert numba.config.CACHE_DIR == str(path)
        assert len(jit.core_fingerprint()) == 16
    finally:
        numba.config.CACHE_DIR = before


# ------------------------------------------------------------------ one compile across processes

_KERNEL_MODULE = '''
import sys
import rulelab.core.jit  # the cache directory and its compile lock, before any @njit below
from numba import njit


@njit(cache=True)
def poly(x):
    total = 0.0
    for k in range(12):
        total = total * x + (k + 1.0) / (k + 2.0)
    return total
'''

_COMPILER = '''
import sys
sys.path.insert(0, sys.argv[1])
import kernel_module
print(round(kernel_module.poly(0.5), 12), sum(kernel_module.poly.stats.cache_misses.values()),
      sum(kernel_module.poly.stats.cache_hits.values()), flush=True)
'''

_HOLDER = '''
import fcntl, os, sys
sys.path.insert(0, sys.argv[1])
import kernel_module
from numba import float64
from rulelab.core import compile_lock
# the lock of the overload poly(float64), or of the function's cache index (held while saving)
path = compile_lock.lock_path(kernel_module.poly, (float64,) if sys.argv[2] == "overload" else None)
os.makedirs(os.path.dirname(path), exist_ok=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()  # hold the lock until told
'''


@pytest.mark.parametrize("held", ["overload", "index"])
def test_processes_with_a_cold_cache_compile_a_kernel_once_and_wait_for_each_other(tmp_path, held):
    """Two processes that need the same uncompiled kernel.  While another process holds the overload's lock,
    both wait; then one compiles it and the other loads it from the cache (without the lock both would
    compile it).  While another holds the cache index's lock (held to read or write the index), the first waits
    to look in the cache, holding the overload, so the second still loads what the first then compiles and
    saves.  A third process finds the kernel in the cache."""
    import os
    import subprocess
    import sys
    import time

    pytest.importorskip("fcntl")
    (tmp_path / "kernel_module.py").write_text(_KERNEL_MODULE)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path), held], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline() == "held\n"
        compilers = [subprocess.Popen([sys.executable, "-c", _COMPILER, str(tmp_path)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
        time.sleep(4.0)  # time enough to import and compile a 12-term loop many times over
        assert [c.poll() for c in compilers] == [None, None]  # both wait for the lock
    finally:
        holder.stdin.close()
        holder.wait(60)
    outputs = [c.communicate(timeout=600) for c in compilers]
    assert [c.returncode for c in compilers] == [0, 0], outputs
    value = 0.0
    for k in range(12):
        value = value * 0.5 + (k + 1.0) / (k + 2.0)
    rows = sorted(out.split() for out, _ in outputs)
    assert rows == [[str(round(value, 12)), "0", "1"], [str(round(value, 12)), "1", "0"]], outputs
    third = subprocess.run([sys.executable, "-c", _COMPILER, str(tmp_path)], capture_output=True, text=True,
                           env=env, timeout=600)
    assert third.stdout.split() == [str(round(value, 12)), "0", "1"], (third.stdout, third.stderr)

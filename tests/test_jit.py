"""The kernel cache directory follows the core sources."""

from __future__ import annotations

import numba

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

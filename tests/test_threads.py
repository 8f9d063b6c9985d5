"""BLAS held at one thread while compiled code runs, set once for a whole scenario."""

from __future__ import annotations

from threadpoolctl import threadpool_info

from rulelab.core import threads as T


def blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_the_blas_compiled_code_calls_is_held_at_one_thread_too():
    """Numba's np.dot calls SciPy's BLAS, which loading a kernel loads after the first limit inspected the
    libraries (in a fresh process: a first run's limit, then its kernels)."""
    import subprocess
    import sys

    script = ("import numpy\n"
              "from threadpoolctl import threadpool_info\n"
              "from rulelab.core.threads import single_threaded_blas\n"
              "with single_threaded_blas(parallel=False):\n"
              "    pass\n"
              "import scipy.linalg.cython_blas\n"
              "with single_threaded_blas(parallel=False):\n"
              "    print([lib['num_threads'] for lib in threadpool_info()\n"
              "           if lib['user_api'] == 'blas' and 'scipy.libs' in lib['filepath']])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("[1]", "[]"), done.stdout  # [] where SciPy's wheel shares NumPy's BLAS


def test_blas_is_held_at_one_thread_and_nested_blocks_set_it_only_when_they_need_the_workers(monkeypatch):
    before = blas_threads()
    assert before  # NumPy's BLAS is found, or this test checks nothing
    with T.single_threaded_blas(parallel=False):
        assert blas_threads() == {1}
        limits = []
        original = T._CONTROLLER.limit
        monkeypatch.setattr(T._CONTROLLER, "limit", lambda **kw: limits.append(kw) or original(**kw))
        with T.single_threaded_blas(parallel=False):  # an online run inside the scenario's block
            assert blas_threads() == {1} and limits == []
        with T.single_threaded_blas(parallel=True):  # a population run: the workers start first
            assert T._WORKERS_STARTED and T._OPEN[-1] is True and blas_threads() == {1}
        with T.single_threaded_blas(parallel=True):
            pass
        # set for each population run (~0.1 ms) unless a block opened after the workers started holds it
        assert limits in ([{"limits": 1, "user_api": "blas"}] * 2, [])
        assert blas_threads() == {1}
    assert blas_threads() == before and T._OPEN == []

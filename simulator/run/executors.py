"""Where independent (rule, seed) runs execute: local worker processes, or a Dask cluster.

Both take the same task — a scenario as resolved plus a rule index and a seed — so a run
gives the same numbers wherever it executes.  :func:`collect` is the one loop that
submits tasks and records results as they finish: a worker that dies becomes a failed run.

Ctrl-C (the flag of :mod:`rulelab.run.interrupts`, checked every :data:`POLL_SECONDS`) cancels
what has not started; local workers are passed the interrupt, stop their runs at the next chunk
and send back what those runs measured (status ``interrupted``); then KeyboardInterrupt is raised.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Callable, Hashable, Iterable

from rulelab.run.interrupts import install_worker_handler, interrupt_requested
from rulelab.run.record import FAILED, RunRecord
from rulelab.scenario import Scenario

POLL_SECONDS = 0.1  # how often the waiting parent looks at the Ctrl-C flag

_WORKER_SCENARIO: dict[str, Scenario] = {}


class ExecutorError(Exception):
    """The executor could not be started (e.g. an unreachable Dask scheduler)."""


def run_task(resolved: dict, source: str, base_dir: str, rule_index: int, seed: int):
    """One (rule, seed) in a worker, from the scenario as resolved (plug-ins are re-imported there)."""
    from pathlib import Path

    import numba

    from rulelab.run.runner import failed_record, prepared_data, run_one
    from rulelab.scenario import validate_scenario

    numba.set_num_threads(1)  # the run is the parallel unit: one thread inside each
    key = repr(resolved)
    if key not in _WORKER_SCENARIO:  # workers run many tasks of one scenario: validate it once
        _WORKER_SCENARIO.clear()
        _WORKER_SCENARIO[key] = validate_scenario(dict(resolved), source, Path(base_dir))
    scenario = _WORKER_SCENARIO[key]
    try:
        spec = scenario.rules[rule_index]
        data, problem = prepared_data(scenario, seed)
        return run_one(scenario, spec, seed, data) if data is not None else failed_record(spec, seed, problem)
    except KeyboardInterrupt as exc:  # stopped at a chunk's end: send back what the run measured
        record = getattr(exc, "record", None)
        if record is None:
            raise
        return record


class LocalExecutor:
    """Worker processes on this machine (spawned: forking is unsafe with Numba's threading layers)."""

    name = "local"

    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.jobs = jobs
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=install_worker_handler)

    def submit(self, *args):
        # The pool starts its processes as tasks are submitted.  They start with SIGINT blocked (a
        # signal mask survives exec) and unblock it once their flag-only handler is in place
        # (install_worker_handler): a Ctrl-C while a worker is still importing is kept pending
        # instead of killing it with a traceback.  The parent's own Ctrl-C is only delayed.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return self.pool.submit(run_task, *args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def wait(self, futures: Iterable, timeout: float) -> set:
        """The futures among ``futures`` that are done, waiting at most ``timeout`` seconds for one."""
        from concurrent.futures import FIRST_COMPLETED, wait

        return wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED).done

    def interrupt(self) -> bool:
        """Pass Ctrl-C on to the workers (a no-op for those the terminal already reached): their runs stop
        at the next chunk and come back.  True: the running tasks will still report."""
        for process in list((getattr(self.pool, "_processes", None) or {}).values()):
            try:
                os.kill(process.pid, signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                pass
        return True

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


class DaskExecutor:
    """The same tasks on a ``dask.distributed`` cluster: an existing scheduler, or a LocalCluster."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, local_workers: int | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("Dask is not installed: pip install 'rulelab[dask]'") from None
        self.cluster = None
        try:
            if scheduler is not None:
                self.client = Client(scheduler, timeout="5s")
            else:
                self.cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None

    def submit(self, *args):
        return self.client.submit(run_task, *args, pure=False)

    def wait(self, futures: Iterable, timeout: float) -> set:
        from dask.distributed import wait

        futures = list(futures)
        try:
            return set(wait(futures, timeout=timeout, return_when="FIRST_COMPLETED").done)
        except TimeoutError:  # distributed raises when nothing finished in time
            return set()

    def interrupt(self) -> bool:
        """A cluster's running tasks cannot be stopped part-way: they are cancelled with the rest."""
        return False

    def close(self, cancel: bool = False) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def collect(executor, tasks: dict[Hashable, tuple[Scenario, int, int]],
            on_record: Callable[[Hashable, Any], None]) -> None:
    """Run ``tasks`` (key → (scenario, rule index, seed)) on ``executor``; ``on_record(key, record)``
    as each finishes.  The executor is closed at the end (cancelled on Ctrl-C, which is re-raised)."""
    futures = {executor.submit(scenario.resolved, scenario.source, str(scenario.base_dir), rule_index, seed): key
               for key, (scenario, rule_index, seed) in tasks.items()}
    pending = dict(futures)
    stopping = False
    try:
        while pending:
            for future in executor.wait(pending, POLL_SECONDS):
                key = pending.pop(future)
                if future.cancelled():
                    continue
                try:
                    record = future.result()
                except Exception as exc:  # the worker itself died: record it, keep the others
                    scenario, rule_index, seed = tasks[key]
                    spec = scenario.rules[rule_index]
                    record = RunRecord(spec.label, spec.rule.name, spec.family, seed, FAILED,
                                       f"worker failed: {type(exc).__name__}: {exc}")
                on_record(key, record)
            if not stopping and interrupt_requested():
                stopping = True
                for future in list(pending):
                    if future.cancel():  # not started yet
                        pending.pop(future)
                if not executor.interrupt():
                    pending.clear()  # running tasks cannot report part-way: keep what finished
        if stopping:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        executor.close(cancel=True)
        raise
    executor.close()


# The parallel counterpart of rulelab.run.runner.run_scenario lives here, so that the runner (which
# the workers import) never imports this module back.


def _tasks(scenario: Scenario, skip: set[tuple[str, int]]) -> list[tuple[int, int]]:
    """(rule index, seed) pairs still to run, seed-major like the sequential loop."""
    return [(i, seed) for seed in scenario.seeds for i, spec in enumerate(scenario.rules)
            if (spec.label, seed) not in skip]


def run_parallel(scenario: Scenario, jobs: int, on_record: Callable[[RunRecord], None],
                 skip: set[tuple[str, int]] = frozenset()) -> list[RunRecord]:
    """Independent (rule, seed) runs in ``jobs`` worker processes; results arrive as they finish.

    Numbers are identical to a sequential run: each run draws only from its own seed.
    """
    records: list[RunRecord] = []

    def keep(key: Hashable, record: RunRecord) -> None:
        records.append(record)
        on_record(record)

    tasks = {(i, seed): (scenario, i, seed) for i, seed in _tasks(scenario, skip)}
    try:
        collect(LocalExecutor(jobs), tasks, keep)
    except KeyboardInterrupt as exc:
        exc.records = records  # type: ignore[attr-defined]
        raise
    return records

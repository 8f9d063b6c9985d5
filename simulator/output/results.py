"""The run directory: plain files a person or a script can read back.

This module owns every file of a run directory (and of a sweep directory): nothing else
writes or parses them.

    scenario.yaml   the scenario as run (defaults filled in)
    metrics.csv     tidy long form: rule,seed,epoch,metric,value
    summary.csv     one row per rule: final metrics over seeds, convergence, compute
    runs.csv        one row per (rule, seed): status, epochs, criterion, message
    weights.npz     final parameters per (rule, seed), with each network's layout
    manifest.json   versions, command line, seeds, times, status of every run
    parts/          while a run is under way: one file per finished (rule, seed)

Durability: each finished (rule, seed) is written at once, whole, as one file in ``parts/``
(a temporary file renamed into place, so a kill leaves either the whole file or none).  The
merged files are rewritten at the end (or on Ctrl-C) in a fixed order — seeds, then rules,
as the scenario lists them — whatever order the runs finished in, and ``parts/`` is emptied.
``--resume`` reads both the merged files and the parts, so a ``kill -9`` or the out-of-memory
killer loses only the runs in flight.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import platform
import zipfile
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

import numpy as np

from rulelab.run.record import CONVERGED, DIVERGED, FAILED, INTERRUPTED, NOT_CONVERGED, RunRecord
from rulelab.scenario import Scenario

METRICS_HEADER = ["rule", "seed", "epoch", "metric", "value"]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    import numba

    from rulelab import __version__

    return {
        "rulelab": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }


class ResumeError(Exception):
    """A run directory cannot be resumed with this scenario."""


# ------------------------------------------------------------------ atomic files

PARTS = "parts"
# Fixed member times make an .npz depend only on its arrays: a resumed run's weights.npz is
# byte-identical to an uninterrupted one's.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}"


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` survive a crash of the machine, not only of the process."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a file system without directory handles: the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[BinaryIO], None], sync: bool = True) -> None:
    """Write ``path`` through ``write(file)`` so that it is never seen half-written: a temporary
    file beside it, then renamed over it (os.replace is atomic).

    Against a killed process (``kill -9``, the out-of-memory killer) the rename alone suffices: the
    data is in the kernel's cache and reaches the disk anyway.  ``sync`` also flushes file and
    folder to the disk, against a crash of the machine; it costs milliseconds a file (measured
    ~8 ms on a busy VM), too much for every part of a scenario of many short runs."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    atomic_write(path, lambda fh: fh.write(data))


def write_npz(fh: BinaryIO, arrays: dict[str, np.ndarray], compress: bool = True) -> None:
    """An .npz that ``np.load`` reads, written deterministically (fixed member times, given order)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fh, "w", compression=method, allowZip64=True) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def save_npz(path: Path, arrays: dict[str, np.ndarray], compress: bool = True, sync: bool = True) -> None:
    atomic_write(path, lambda fh: write_npz(fh, arrays, compress), sync)


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _array_text(array: np.ndarray) -> str:
    return bytes(np.asarray(array, dtype=np.uint8)).decode("utf-8")


@dataclass
class Part:
    """One finished run as ``parts/`` holds it: its metrics.csv lines (exactly as merged), its
    status row, and its arrays."""

    key: tuple
    row: dict[str, Any]
    rule: str
    family: str
    metric_text: str
    params: np.ndarray | None
    artifacts: dict[str, np.ndarray]


class RunParts:
    """The ``parts/`` folder: one file per finished run, each written atomically."""

    def __init__(self, out_dir: Path):
        self.folder = Path(out_dir) / PARTS

    def exists(self) -> bool:
        return self.folder.is_dir() and any(self.folder.glob("*.npz"))

    def write(self, name: str, key: tuple, row: dict[str, Any], record: RunRecord, metric_text: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = {"key": list(key), "row": row, "rule": record.rule, "family": record.family}
        arrays = {"meta": _text_array(json.dumps(meta)), "metrics": _text_array(metric_text)}
        if record.params is not None:
            arrays["params"] = record.params
        arrays.update({f"artifacts/{k}": v for k, v in record.artifacts.items()})
        # Atomic, not synced (a part must survive a killed process; the merged files are synced) and
        # not compressed (parts live only until the merge): about 0.6 ms a run (measured, busy VM).
        save_npz(self.folder / f"{name}.npz", arrays, compress=False, sync=False)

    def read(self) -> list[Part]:
        """Every complete part, in file-name order.  Only whole files are ever renamed into place; a
        file that still cannot be read (a disk error) is skipped: that run is simply run again."""
        parts = []
        if not self.folder.is_dir():
            return parts
        for path in sorted(self.folder.glob("*.npz")):
            try:
                with open_arrays(path) as saved:
                    meta = json.loads(_array_text(saved["meta"]))
                    parts.append(Part(tuple(meta["key"]), meta["row"], meta["rule"], meta["family"],
                                      _array_text(saved["metrics"]),
                                      saved["params"] if "params" in saved.files else None,
                                      {k[len("artifacts/"):]: saved[k] for k in saved.files
                                       if k.startswith("artifacts/")}))
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
                continue
        return parts

    def clear(self) -> None:
        """Remove the parts (once merged) and any temporary file a kill left behind."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.is_file() and (path.suffix == ".npz" or path.name.endswith(".tmp")):
                path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass  # something else lives there: leave it


def _rows_from_metric_text(text: str, fields: int) -> list[tuple[int, str, float]]:
    """(epoch, metric, value) from metrics.csv lines whose first ``fields`` columns name the run."""
    return [(int(row[fields]), row[fields + 1], float(row[fields + 2]))
            for row in csv.reader(io.StringIO(text, newline="")) if row]


# ------------------------------------------------------------------ run directories


class RunWriter:
    """Writes a run directory so that an interrupted or killed run keeps what finished.

    :meth:`add` writes each finished (rule, seed) as one part, atomically, and appends its rows
    to metrics.csv (to watch a run as it goes); :meth:`finish` merges everything into the final
    files in the scenario's order.  With ``resume``, the runs already finished in ``out_dir``
    (merged files and parts) are read back and kept; :attr:`done` names them so that only the
    rest is run.
    """

    def __init__(self, out_dir: Path, scenario: Scenario, command: str, resume: bool = False):
        self.out_dir = Path(out_dir)
        self.scenario = scenario
        self.command = command
        self.started = _now()
        self.parts = RunParts(self.out_dir)
        self._labels = [spec.label for spec in scenario.rules]
        self._records: dict[tuple[str, int], RunRecord] = {}
        self._texts: dict[tuple[str, int], str] = {}
        text = scenario.as_yaml()
        kept: list[tuple[RunRecord, str]] = []
        if resume and ((self.out_dir / "runs.csv").is_file() or self.parts.exists()):
            saved = self.out_dir / "scenario.yaml"
            if not saved.is_file() or saved.read_text() != text:
                raise ResumeError(f"{self.out_dir} holds a run of a different scenario (or other settings); "
                                  "resume with the same scenario and options, or choose another --out")
            try:
                kept = self._read_finished()
            except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, csv.Error) as exc:
                raise ResumeError(f"{self.out_dir}: cannot read its finished runs ({_short(exc)}); run without "
                                  "--resume to start over, or choose another --out") from None
        elif not resume:
            self.parts.clear()  # a fresh run: parts of an earlier run here must not be resumed later
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out_dir / "scenario.yaml", text)
        for record, lines in kept:
            key = (record.label, record.seed)
            self._records[key], self._texts[key] = record, lines
        with open(self.out_dir / "metrics.csv", "w", newline="") as fh:
            fh.write(_csv_line(METRICS_HEADER) + "".join(self._texts[k] for k in self._ordered_keys()))

    def _read_finished(self) -> list[tuple[RunRecord, str]]:
        """Finished runs (not failed, not interrupted): the merged files first, then the parts, which are newer."""
        found: dict[tuple[str, int], tuple[RunRecord, str]] = {}
        if (self.out_dir / "runs.csv").is_file() and (self.out_dir / "metrics.csv").is_file():
            for record in load_records(self.out_dir, self.scenario):
                if record.rows:  # a run without rows in metrics.csv is run again
                    found[(record.label, record.seed)] = (record, metric_lines([record.label, record.seed], record))
        specs = {spec.label: spec for spec in self.scenario.rules}
        for part in self.parts.read():
            if len(part.key) != 2 or part.key[0] not in specs or part.row.get("status") in (INTERRUPTED, FAILED):
                continue
            record = record_from_row(part.row, part.rule, part.family, _rows_from_metric_text(part.metric_text, 2),
                                     part.params, part.artifacts)
            found[(record.label, record.seed)] = (record, part.metric_text)
        seeds = set(self.scenario.seeds)
        return [found[k] for k in found if k[1] in seeds]

    @property
    def records(self) -> list[RunRecord]:
        """Every run so far (kept and new), seeds then rules in the scenario's order."""
        return [self._records[k] for k in self._ordered_keys()]

    @property
    def done(self) -> set[tuple[str, int]]:
        return set(self._records)

    def _ordered_keys(self) -> list[tuple[str, int]]:
        seeds = {seed: i for i, seed in enumerate(self.scenario.seeds)}
        rules = {label: i for i, label in enumerate(self._labels)}
        return sorted(self._records, key=lambda k: (seeds.get(k[1], len(seeds)), rules.get(k[0], len(rules)), k))

    def add(self, record: RunRecord) -> None:
        """Keep one finished (rule, seed) run: its part on disk at once, its rows appended to metrics.csv."""
        key = (record.label, record.seed)
        lines = metric_lines([record.label, record.seed], record)
        if record.status != INTERRUPTED:  # an interrupted run is run again on --resume: not a finished part
            index = self._labels.index(record.label) if record.label in self._labels else len(self._labels)
            self.parts.write(f"rule{index:04d}-seed{record.seed}", key, run_row(record), record, lines)
        self._records[key], self._texts[key] = record, lines
        with open(self.out_dir / "metrics.csv", "a", newline="") as fh:
            fh.write(lines)

    def finish(self, interrupted: bool = False) -> list[dict[str, Any]]:
        """Merge into the final files (each written atomically; runs.csv, which declares runs finished,
        after the data it points to), then drop the parts; return the summary rows."""
        records = self.records
        atomic_write_text(self.out_dir / "metrics.csv",
                          _csv_line(METRICS_HEADER) + "".join(self._texts[k] for k in self._ordered_keys()))
        self._write_weights(records)
        self._write_artifacts(records)
        write_csv(self.out_dir / "runs.csv", [run_row(r) for r in records], RUN_COLUMNS)
        summary = summarize(self.scenario, records)
        write_csv(self.out_dir / "summary.csv", summary)
        atomic_write_text(self.out_dir / "summary.md", summary_markdown(self.scenario, summary))
        manifest = {
            **versions(),
            "scenario": self.scenario.name,
            "scenario_file": self.scenario.source,
            "command": self.command,
            "seeds": self.scenario.seeds,
            "started": self.started,
            "finished": _now(),
            "interrupted": interrupted,
            "runs": [{"rule": r.label, "seed": r.seed, "status": r.status, "message": r.message}
                     for r in records],
        }
        atomic_write_text(self.out_dir / "manifest.json", json.dumps(manifest, indent=2))
        self.parts.clear()
        return summary

    def _write_artifacts(self, records: list[RunRecord]) -> None:
        """Optimised inputs and adversarial examples: inputs.npz (figures come from rulelab.output.plots)."""
        arrays = {f"{r.label}/seed{r.seed}/{name}": value
                  for r in records for name, value in r.artifacts.items()}
        if not arrays:
            return
        save_npz(self.out_dir / "inputs.npz", arrays)

    def _write_weights(self, records: list[RunRecord]) -> None:
        arrays: dict[str, np.ndarray] = {}
        for spec in self.scenario.rules:
            arrays[f"{spec.label}/layout"] = spec.network.layout
        for r in records:
            if r.params is not None:
                arrays[f"{r.label}/seed{r.seed}"] = r.params
        save_npz(self.out_dir / "weights.npz", arrays)


# ------------------------------------------------------------------ sweep directories

SWEEP_METRICS_HEADER = ["point", "rule", "seed", "epoch", "metric", "value"]
SWEEP_RUN_COLUMNS = ["point", "rule", "seed", "status", "epochs", "criterion_epoch", "forward_passes",
                     "wall_seconds", "message"]


def _sweep_run_row(point: int, record: RunRecord) -> dict[str, Any]:
    return {"point": point, "rule": record.label, "seed": record.seed, "status": record.status,
            "epochs": record.epochs_run, "criterion_epoch": "" if record.criterion_epoch is None
            else record.criterion_epoch, "forward_passes": record.forward_passes,
            "wall_seconds": round(record.wall_seconds, 6), "message": record.message}


class SweepWriter:
    """A sweep directory (see :mod:`rulelab.run.sweep`): each finished (point, rule, seed) run is one part,
    written atomically, and streams into metrics.csv and runs.csv; :meth:`finish` merges them in the
    sweep's order.  With ``resume`` the finished runs there (merged files and parts) are kept."""

    def __init__(self, out: Path, sweep: Any, resume: bool = False):
        import yaml

        self.out = Path(out)
        self.sweep = sweep
        self.parts = RunParts(self.out)
        self.done: set[tuple[int, str, int]] = set()
        self.finals: dict[tuple[int, str, int], dict[str, float]] = {}
        self.statuses: dict[tuple[int, str, int], str] = {}
        self._rows: dict[tuple[int, str, int], dict[str, Any]] = {}
        self._texts: dict[tuple[int, str, int], str] = {}
        self._order = {(p, sweep.points[p].scenario.rules[i].label, seed): n
                       for n, (p, i, seed) in enumerate(sweep.tasks())}
        self._labels = {(p.index, spec.label): i for p in sweep.points for i, spec in enumerate(p.scenario.rules)}
        spec_text = yaml.safe_dump({"scenario": sweep.base, "sweep": sweep.config.model_dump(exclude_none=True)},
                                   sort_keys=False, allow_unicode=True)
        if resume and ((self.out / "runs.csv").is_file() or self.parts.exists()):
            saved = self.out / "sweep.yaml"
            if not saved.is_file() or saved.read_text() != spec_text:
                from rulelab.scenario import ScenarioError

                raise ScenarioError(str(self.out), [("", "this directory holds a different sweep (or other "
                                                         "settings); resume with the same file and options, or "
                                                         "use another --out")])
            try:
                self._read_finished()
            except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, csv.Error) as exc:
                from rulelab.scenario import ScenarioError

                raise ScenarioError(str(self.out), [("", f"cannot read its finished runs ({_short(exc)}); run "
                                                         "without --resume to start over, or use another --out")])
        elif not resume:
            self.parts.clear()
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / "sweep.yaml", spec_text)
        points = "".join(_csv_line([p.index, *[json.dumps(p.settings[k]) for k in sweep.keys]])
                         for p in sweep.points)
        atomic_write_text(self.out / "points.csv", _csv_line(["point", *sweep.keys]) + points)
        self._write_merged(atomic=False)

    def _keep(self, key: tuple[int, str, int], row: dict[str, Any], text: str) -> None:
        self._rows[key], self._texts[key] = row, text
        self.statuses[key] = str(row["status"])
        self.done.add(key)
        finals: dict[str, float] = {}
        for _, metric, value in _rows_from_metric_text(text, 3):
            finals[metric] = value
        self.finals[key] = finals

    def _read_finished(self) -> None:
        """Finished runs (not failed, not interrupted): merged runs.csv and metrics.csv, then the newer parts."""
        if (self.out / "runs.csv").is_file():
            with open(self.out / "runs.csv", newline="") as fh:
                runs = {(int(r["point"]), r["rule"], int(r["seed"])): r for r in csv.DictReader(fh)
                        if r["status"] not in (FAILED, INTERRUPTED)}
            lines: dict[tuple[int, str, int], list[str]] = {}
            if (self.out / "metrics.csv").is_file():
                with open(self.out / "metrics.csv", newline="") as fh:
                    for row in csv.DictReader(fh):
                        key = (int(row["point"]), row["rule"], int(row["seed"]))
                        if key in runs:
                            lines.setdefault(key, []).append(_csv_line([row[c] for c in SWEEP_METRICS_HEADER]))
            for key, row in runs.items():
                if key in self._order:
                    self._keep(key, row, "".join(lines.get(key, [])))
        for part in self.parts.read():
            key = tuple(part.key)
            if len(key) != 3 or key not in self._order or part.row.get("status") in (FAILED, INTERRUPTED):
                continue
            self._keep(key, part.row, part.metric_text)  # type: ignore[arg-type]

    def _ordered(self) -> list[tuple[int, str, int]]:
        return sorted(self._rows, key=lambda k: (self._order.get(k, len(self._order)), k))

    def _write_merged(self, atomic: bool) -> None:
        keys = self._ordered()
        metrics = _csv_line(SWEEP_METRICS_HEADER) + "".join(self._texts[k] for k in keys)
        runs = _csv_line(SWEEP_RUN_COLUMNS) + "".join(
            _csv_line([self._rows[k].get(c, "") for c in SWEEP_RUN_COLUMNS]) for k in keys)
        if atomic:
            atomic_write_text(self.out / "metrics.csv", metrics)
            atomic_write_text(self.out / "runs.csv", runs)  # after the metrics it declares finished
        else:  # the live files at the start: parts and the merged files already hold the same runs
            for name, text in (("metrics.csv", metrics), ("runs.csv", runs)):
                with open(self.out / name, "w", newline="") as fh:
                    fh.write(text)

    def add(self, point: int, record: RunRecord) -> None:
        key = (point, record.label, record.seed)
        text = metric_lines([point, record.label, record.seed], record)
        row = _sweep_run_row(point, record)
        if record.status != INTERRUPTED:
            index = self._labels.get((point, record.label), 9999)
            self.parts.write(f"point{point:05d}-rule{index:04d}-seed{record.seed}", key, row, record, text)
        with open(self.out / "metrics.csv", "a", newline="") as fh:
            fh.write(text)
        with open(self.out / "runs.csv", "a", newline="") as fh:
            fh.write(_csv_line([row[c] for c in SWEEP_RUN_COLUMNS]))
        self._keep(key, row, text)
        self.finals[key] = {metric: value for _, metric, value in record.all_rows()}

    def finish(self) -> None:
        """Merge metrics.csv and runs.csv in the sweep's order, then drop the parts."""
        self._write_merged(atomic=True)
        self.parts.clear()


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def _fmt(value: float) -> str:
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()
                                                 and abs(value) < 1e15):
        return str(int(value))
    return repr(float(value))


def format_values(values: np.ndarray) -> list[str]:
    """Values as metrics.csv writes them (as :func:`_fmt`, for a whole array at once): whole numbers
    below 1e15 without a decimal point, everything else as Python's shortest round-trip repr."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(flat) & (flat == np.trunc(flat)) & (np.abs(flat) < 1e15)
    out = np.empty(flat.size, dtype=object)
    out[whole] = list(map(str, flat[whole].astype(np.int64).tolist()))
    out[~whole] = list(map(repr, flat[~whole].tolist()))
    return out.tolist()


def _csv_prefix(fields: list[Any]) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue() + ","


def metric_lines(fields: list[Any], record: RunRecord) -> str:
    """The metrics.csv lines of one run, each ``fields…,epoch,metric,value`` (CSV-quoted where needed)."""
    prefix = _csv_prefix(fields)
    parts: list[str] = []
    for block in record.blocks:
        texts = format_values(block.values)
        width = len(block.names)
        heads = [f"{prefix}{epoch}," for epoch in block.epochs.tolist()]
        # Column by column with map (no per-row Python frame), then interleaved back to epoch-major order.
        columns = [list(map("".join, zip(heads, repeat(f"{name},"), texts[c::width], repeat("\r\n"))))
                   for c, name in enumerate(block.names)]
        parts.extend(chain.from_iterable(zip(*columns)))
    for epoch, metric, value in record.rows:
        parts.append(f"{prefix}{epoch},{_csv_prefix([metric])}{_fmt(value)}\r\n")
    return "".join(parts)


def _csv_line(fields: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(fields)
    return buffer.getvalue()


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """A table as CSV, atomically (``columns``: the header even when there are no rows)."""
    buffer = io.StringIO()
    fields = list(rows[0]) if rows else columns
    if fields:
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


RUN_COLUMNS = ["rule", "seed", "status", "epochs", "criterion_epoch", "criterion_forward_passes", "forward_passes",
               "samples", "wall_seconds", "message"]


def run_row(r: RunRecord) -> dict[str, Any]:
    return {
        "rule": r.label, "seed": r.seed, "status": r.status, "epochs": r.epochs_run,
        "criterion_epoch": "" if r.criterion_epoch is None else r.criterion_epoch,
        "criterion_forward_passes": "" if r.criterion_forward_passes is None else r.criterion_forward_passes,
        "forward_passes": r.forward_passes, "samples": r.samples, "wall_seconds": round(r.wall_seconds, 6),
        "message": r.message,
    }


def record_from_row(r: dict[str, Any], rule: str, family: str, rows: list[tuple[int, str, float]],
                    params: np.ndarray | None, artifacts: dict[str, np.ndarray]) -> RunRecord:
    """A finished run rebuilt from its runs.csv row (strings, as read back, or the values of :func:`run_row`)."""
    def optional(value: Any) -> int | None:
        return None if value in ("", None) else int(value)

    return RunRecord(str(r["rule"]), rule, family, int(r["seed"]), str(r["status"]), str(r["message"] or ""),
                     int(r["epochs"]), optional(r["criterion_epoch"]), optional(r.get("criterion_forward_passes")),
                     float(r["wall_seconds"]), int(r["forward_passes"]), int(r.get("samples") or 0), rows, params,
                     artifacts)


def load_records(run_dir: Path, scenario: Scenario) -> list[RunRecord]:
    """The finished runs of a run directory's merged files (not interrupted, not failed), rebuilt from them."""
    specs = {spec.label: spec for spec in scenario.rules}
    with open(run_dir / "runs.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] not in (INTERRUPTED, FAILED) and r["rule"] in specs]
    metrics: dict[tuple[str, int], list[tuple[int, str, float]]] = {}
    for m in read_metrics(run_dir):
        metrics.setdefault((m["rule"], m["seed"]), []).append((m["epoch"], m["metric"], m["value"]))
    weights = _load_npz(run_dir / "weights.npz")
    inputs = _load_npz(run_dir / "inputs.npz")
    records = []
    for r in rows:
        label, seed = r["rule"], int(r["seed"])
        spec = specs[label]
        prefix = f"{label}/seed{seed}/"
        records.append(record_from_row(r, spec.rule.name, spec.rule.family, metrics.get((label, seed), []),
                                       weights.get(f"{label}/seed{seed}"),
                                       {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)}))
    return records


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with open_arrays(path) as saved:
        return {k: saved[k] for k in saved.files}


def open_arrays(path: Path):
    """An .npz of a run directory (weights.npz, inputs.npz) or one named by a scenario, for reading
    (a context manager: ``with open_arrays(path) as saved: saved[key]``); pickles are refused."""
    return np.load(Path(path), allow_pickle=False)


def read_saved_scenario(run_dir: Path) -> dict[str, Any]:
    """scenario.yaml as saved by a run (plain data: the figures need no validation)."""
    import yaml

    return yaml.safe_load((Path(run_dir) / "scenario.yaml").read_text())


def read_summary(run_dir: Path) -> list[dict[str, str]]:
    with open(Path(run_dir) / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


MetricSeries = dict[tuple[str, str], dict[int, dict[int, float]]]


def read_metric_series(run_dir: Path) -> MetricSeries:
    """metrics.csv as (rule, metric) → seed → epoch → value (ValueError: not a run's metrics.csv)."""
    path = Path(run_dir) / "metrics.csv"
    metrics: MetricSeries = {}
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or not {"rule", "seed", "epoch", "metric", "value"} <= set(header):
            raise ValueError(f"{path}: expected columns rule,seed,epoch,metric,value")
        r, s, e, m, v = (header.index(k) for k in ("rule", "seed", "epoch", "metric", "value"))
        for row in reader:
            metrics.setdefault((row[r], row[m]), {}).setdefault(int(row[s]), {})[int(row[e])] = float(row[v])
    return metrics


def main_metric(scenario: Scenario) -> str:
    """The metric a comparison is judged by: test accuracy, else train accuracy, else a loss."""
    for name in ("overlap_mean", "objective_best", "test_accuracy", "train_accuracy", "test_loss", "train_loss",
                 "pc_angle_0"):
        if name in scenario.metrics:
            return name
    return scenario.metrics[0]


def lower_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better: losses, objectives, angles to principal components."""
    return metric.endswith(("loss", "objective")) or metric.startswith(("pc_angle", "objective"))


def mean_ci95(values: Iterable[float]) -> tuple[float, float, float]:
    """(mean, sample std, half-width of the 95 % Student-t confidence interval)."""
    from rulelab.output.stats import t_quantile

    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), 0.0, float("nan")
    std = float(x.std(ddof=1))
    half = float(t_quantile(0.975, x.size - 1) * std / math.sqrt(x.size))
    return float(x.mean()), std, half


def summarize(scenario: Scenario, records: list[RunRecord]) -> list[dict[str, Any]]:
    """One row per rule: final metrics over seeds, convergence and compute."""
    rows = []
    main = main_metric(scenario)
    for spec in scenario.rules:
        runs = [r for r in records if r.label == spec.label]
        if not runs:
            continue
        finals = [r.final(main) for r in runs if r.status not in (FAILED, INTERRUPTED)]
        lower_is_better = lower_better(main)
        pick_best, pick_worst = (min, max) if lower_is_better else (max, min)
        mean, std, half = mean_ci95(finals)
        r_ = _sig if main.startswith("objective") else _r  # objective values span decades: significant digits
        row: dict[str, Any] = {
            "rule": spec.label, "family": spec.family, "seeds": len(runs),
            "metric": main, "budget": scenario.train.describe_budget(),
            "mean": r_(mean), "std": r_(std), "ci95": r_(half),
            "best": r_(pick_best(finals)) if finals else "", "worst": r_(pick_worst(finals)) if finals else "",
        }
        for metric in scenario.metrics:
            if metric != main:
                m, s, _ = mean_ci95(r.final(metric) for r in runs if r.status not in (FAILED, INTERRUPTED))
                r_ = _sig if metric.startswith("objective") else _r
                row[f"{metric}_mean"], row[f"{metric}_std"] = r_(m), r_(s)
        hit = [r for r in runs if r.criterion_epoch is not None]
        judged = [r for r in runs if r.status in (CONVERGED, NOT_CONVERGED)]
        row["converged"] = _fraction(runs, CONVERGED) if judged else "n/a"
        row["diverged"] = _fraction(runs, DIVERGED)
        row["failed"] = _fraction(runs, FAILED)
        row["epochs_to_criterion"] = _r(np.mean([r.criterion_epoch for r in hit])) if hit else ""
        row["forward_passes_to_criterion"] = (_r(np.mean([r.criterion_forward_passes for r in hit]))
                                              if hit else "")
        row["forward_passes"] = _r(np.mean([r.forward_passes for r in runs]))
        row["wall_seconds"] = _r(np.mean([r.wall_seconds for r in runs]), 4)
        row.update(_versus_reference(scenario, records, spec.label, main))
        row["problems"] = _note(scenario, runs)
        row["comparison"] = _comparison_words(row, main)
        row["note"] = "; ".join(filter(None, [row["problems"], row["comparison"]]))
        rows.append(row)
    return rows


def paired_test(reference: dict[int, float], other: dict[int, float]) -> tuple[float, float, int]:
    """(mean difference other − reference, two-sided p-value of the paired t-test, pairs used).

    Pairs are seeds both runs finished with a finite value; the p-value is NaN with
    fewer than two pairs, and 1 when every difference is zero.
    """
    from rulelab.output.stats import paired_t_test

    seeds = sorted(s for s in reference if s in other
                   and math.isfinite(reference[s]) and math.isfinite(other[s]))
    if not seeds:
        return float("nan"), float("nan"), 0
    diff = np.array([other[s] - reference[s] for s in seeds])
    if len(seeds) < 2:
        return float(diff.mean()), float("nan"), len(seeds)
    if np.all(diff == diff[0]):
        return float(diff.mean()), 1.0 if diff[0] == 0 else 0.0, len(seeds)
    return float(diff.mean()), paired_t_test([other[s] for s in seeds], [reference[s] for s in seeds]), len(seeds)


def _versus_reference(scenario: Scenario, records: list[RunRecord], label: str, main: str) -> dict[str, Any]:
    reference = scenario.rules[0].label
    if label == reference:
        return {"vs_reference": "reference", "difference": "", "p_value": ""}

    def finals(name: str) -> dict[int, float]:
        return {r.seed: r.final(main) for r in records
                if r.label == name and r.status not in (FAILED, INTERRUPTED)}

    diff, p, n = paired_test(finals(reference), finals(label))
    rounded = _sig(diff) if main.startswith("objective") else _r(diff)
    return {"vs_reference": reference, "difference": rounded, "p_value": _r(p, 4)}


def _comparison_words(row: dict[str, Any], main: str) -> str:
    """The paired test against the reference, in words (5 % level)."""
    if row.get("vs_reference") in (None, "reference") or row.get("p_value") == "":
        return ""
    diff, p = row["difference"], row["p_value"]
    shown = "< 0.0001" if p < 1e-4 else f"= {p:.2g}"
    if p >= 0.05:
        return f"no significant difference from {row['vs_reference']} (paired p {shown})"
    better = diff < 0 if lower_better(main) else diff > 0
    return f"{'better' if better else 'worse'} than {row['vs_reference']} (paired p {shown})"


def summary_markdown(scenario: Scenario, rows: list[dict[str, Any]], budget: str = "") -> str:
    """summary.md: the table a person reads, with the statistics spelt out."""
    if not rows:
        return f"# {scenario.name}\n\nNo finished runs.\n"
    main = rows[0]["metric"]
    lines = [f"# {scenario.name}", "", scenario.description.strip(), "",
             f"Main metric: **{main}**, final value over {len(scenario.seeds)} seed(s) "
             f"(mean ± 95 % confidence interval, Student t). "
             f"Budget: {budget or scenario.train.describe_budget()}. "
             f"p: paired t-test against **{scenario.rules[0].label}** over the same seeds.", "",
             "| rule | family | mean ± 95 % CI | best | worst | converged | diverged | epochs to criterion | "
             "forward passes to criterion | wall s | Δ vs reference | p | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        digits = ".4g" if main.startswith("objective") else ".4f"
        ci = f" ± {r['ci95']:{digits}}" if isinstance(r["ci95"], float) else ""
        mean = f"{r['mean']:{digits}}{ci}" if r["mean"] != "" else "n/a"
        lines.append(" | ".join([f"| {r['rule']}", r["family"], mean, str(r["best"]), str(r["worst"]),
                                 r["converged"], r["diverged"], str(r["epochs_to_criterion"]),
                                 str(r["forward_passes_to_criterion"]), str(r["wall_seconds"]),
                                 str(r["difference"]), str(r["p_value"]), r["note"] or "—"]) + " |")
    return "\n".join(lines) + "\n"


def _fraction(runs: list[RunRecord], status: str) -> str:
    return f"{sum(r.status == status for r in runs)}/{len(runs)}"


def _r(value: float, digits: int = 6) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return round(float(value), digits)


def _sig(value: float, digits: int = 6) -> Any:
    """``value`` to ``digits`` significant digits ('' when not finite)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return float(f"{float(value):.{digits}g}")


def _not_converged_words(scenario: Scenario, runs: list[RunRecord]) -> str:
    """What stopped the runs that missed the criterion: the epochs, or the compute budget."""
    budget = scenario.train.budget
    if budget is not None and any(r.status == NOT_CONVERGED and "budget" in r.message for r in runs):
        return f"did not converge within the budget of {budget.amount:g} {budget.unit.replace('_', ' ')}"
    return f"did not converge within {scenario.train.epochs} epochs"


def _note(scenario: Scenario, runs: list[RunRecord]) -> str:
    """Plain words for what went wrong or did not happen; empty when every seed met the goal."""
    n = len(runs)
    notes = []
    for status, words in ((NOT_CONVERGED, _not_converged_words(scenario, runs)),
                          (DIVERGED, "diverged (NaN, infinite or unbounded weights)"),
                          (FAILED, "failed with an error"),
                          (INTERRUPTED, "interrupted")):
        k = sum(r.status == status for r in runs)
        if k:
            notes.append(f"{words} on {k}/{n} seeds")
    failed = [r for r in runs if r.status == FAILED]
    if failed:
        notes.append(f"first error: {failed[0].message}")
    return "; ".join(notes)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.csv as a list of dicts with typed values."""
    with open(Path(run_dir) / "metrics.csv", newline="") as fh:
        return [{"rule": row["rule"], "seed": int(row["seed"]), "epoch": int(row["epoch"]),
                 "metric": row["metric"], "value": float(row["value"])} for row in csv.DictReader(fh)]


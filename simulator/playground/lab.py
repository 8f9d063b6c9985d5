"""A live classification or regression view: every rule of one scenario trained side by side, frame by frame.

The rules advance in lockstep on one clock ``t`` (the scenario's ``train.epochs`` that the
view has reached): a rule whose entry trains in stages first runs the fixed epochs of its
earlier stages, so at clock ``t`` each rule has trained exactly what ``rulelab run`` trains
with ``train.epochs: t``.  Each frame carries, per rule, the new metric rows, the predicted
class (or the regression output) over a ``size`` × ``size`` grid of the input plane and every
hidden unit's output over a coarser grid, as bytes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from rulelab.build import build_plan, prepare_data
from rulelab.data.datasets import Dataset, split_dataset
from rulelab.data.playground import derived_features
from rulelab.core.network import Network, target_range
from rulelab.playground.grid import Grid, grid_outputs, quantise
from rulelab.playground.state import Opened, final_stage_prefix
from rulelab.run.session import Session
from rulelab.tasks.kinds import kind_of

GRID = 100  # the decision regions: GRID × GRID points
HIDDEN_STRIDE = 4  # hidden units' outputs on every 4th grid point (25 × 25)
MAX_HIDDEN_SHOWN = 64
CURVES = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")
DIGITS = 6  # metric values sent rounded to 6 significant digits (the export carries the exact ones)


def _b64(data: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(data, dtype=np.uint8).tobytes()).decode("ascii")


def _round(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(f"{v:.{DIGITS}g}") for v in values.tolist()]


def _activation_range(name: str) -> tuple[float, float] | None:
    """The fixed output range of a bounded activation (None: unbounded, scaled per frame)."""
    return {"tanh": (-1.0, 1.0), "sign": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "step": (0.0, 1.0)}.get(name)


@dataclass
class _Display:
    """The points in the plane the page draws, and the inputs the networks see for the grid."""

    train: np.ndarray
    test: np.ndarray
    grid: Grid
    grid_inputs: np.ndarray
    hidden_inputs: np.ndarray


def display_points(opened: Opened, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) points in the plane: the 2-D points behind derived features, else the inputs.

    The same seeded split as :func:`rulelab.build.prepare_data`, applied to the points themselves
    (the permutation depends only on the generator and the row count)."""
    scenario = opened.scenario
    rng = np.random.default_rng([seed, 0])
    data = scenario.make_dataset(rng)
    task = scenario.task
    if data.coordinates is None:
        split = split_dataset(data, task.test_fraction, rng, task.standardize, task.validation_fraction,
                              task.stratify)
        return split.X_train, split.X_test
    plane = Dataset(data.coordinates, data.y, data.n_classes, targets=data.targets)
    split = split_dataset(plane, task.test_fraction, rng, False, task.validation_fraction, task.stratify)
    return split.X_train, split.X_test


class LabRun:
    """One tab's live comparison: sessions per rule, the lockstep clock, and the frames drawn from them."""

    def __init__(self, opened: Opened, grid_size: int = GRID):
        self.opened = opened
        self.scenario = opened.scenario
        self.seed = self.scenario.seeds[0]
        self.grid_size = grid_size
        self.regression = kind_of(self.scenario.task).targets == "values"
        self.prefix = final_stage_prefix(self.scenario)
        self._data = prepare_data(self.scenario, self.seed)
        self.display = self._display()
        self.reset()

    # ------------------------------------------------------------------ setup

    def _display(self) -> _Display:
        train, test = display_points(self.opened, self.seed)
        grid = Grid.around(np.vstack([train, test]) if len(test) else train, self.grid_size)
        points = grid.points
        split = self._data.split
        if split.coordinates_train is not None:  # derived features of the grid, standardised like the data
            inputs = derived_features(points, self.scenario.dataset_options.features)
            if split.shift is not None:
                inputs = (inputs - split.shift) / split.scale
        else:
            inputs = points
        hidden_rows = np.arange(0, self.grid_size, HIDDEN_STRIDE)
        coarse = (hidden_rows[:, None] * self.grid_size + hidden_rows[None, :]).ravel()
        return _Display(train, test, grid, np.ascontiguousarray(inputs), np.ascontiguousarray(inputs[coarse]))

    def reset(self) -> None:
        """Back to epoch 0: fresh plans (the same seeds give the same run again)."""
        self.sessions = [Session(build_plan(self.scenario, spec, self.seed, self._data))
                         for spec in self.scenario.rules]
        self.clock = 0
        self._sent = [0] * len(self.sessions)  # metric blocks already sent, per rule
        self._inputs = [self._typed(s.plan.network) for s in self.sessions]

    def _typed(self, net: Network) -> tuple[np.ndarray, np.ndarray]:
        d = self.display
        return (np.ascontiguousarray(d.grid_inputs, dtype=net.np_dtype),
                np.ascontiguousarray(d.hidden_inputs, dtype=net.np_dtype))

    @property
    def epochs(self) -> int:
        """The clock's end: the scenario's train.epochs."""
        return self.scenario.train.epochs

    @property
    def finished(self) -> bool:
        return self.clock >= self.epochs or all(s.finished for s in self.sessions)

    # ------------------------------------------------------------------ stepping

    def advance(self, epochs: int) -> None:
        """Move the clock ``epochs`` forward (at most to train.epochs); each rule catches up with it."""
        self.clock = min(self.epochs, self.clock + max(int(epochs), 0))
        for session, prefix in zip(self.sessions, self.prefix):
            target = prefix + self.clock
            while not session.finished and session.epoch < target:
                session.step(target - session.epoch)

    # ------------------------------------------------------------------ what the page gets

    def info(self) -> dict[str, Any]:
        """Everything that does not change while training: points, grid, rules, networks."""
        d = self.display
        split = self._data.split
        if self.regression:
            y_train = split.targets_train[:, 0]
            y_test = split.targets_test[:, 0] if split.targets_test is not None else np.zeros(0)
        else:
            y_train, y_test = split.y_train, split.y_test if split.y_test is not None else np.zeros(0)
        rules = []
        for session, spec in zip(self.sessions, self.scenario.rules):
            net = spec.network
            rules.append({"label": spec.label, "rule": spec.rule.name, "family": spec.family,
                          "stages": [stage.rule.name for stage in spec.stages],
                          "layers": list(net.sizes), "activations": list(net.activations),
                          "hidden": [{"layer": layer, "unit": unit}
                                     for layer, size in enumerate(net.sizes[1:-1])
                                     for unit in range(size)][:MAX_HIDDEN_SHOWN],
                          "columns": [name for name, _ in session.plan.columns]})
        low, high = self._value_range()
        return {"view": "lab", "kind": self.scenario.task.kind, "seed": self.seed, "epochs": self.epochs,
                "n_classes": int(self._data.n_classes), "grid": {"size": self.grid_size, "low": d.grid.low,
                                                                  "high": d.grid.high,
                                                                  "hidden_size": len(range(0, self.grid_size,
                                                                                           HIDDEN_STRIDE))},
                "value_range": [low, high],
                "train": {"points": _round(d.train.ravel()), "y": _round(np.asarray(y_train, float))},
                "test": {"points": _round(d.test.ravel()), "y": _round(np.asarray(y_test, float))},
                "rules": rules, "notes": self.opened.notes}

    def _value_range(self) -> tuple[float, float]:
        """What the output shading spans: the targets' range (regression) or the output's (classification)."""
        if self.regression:
            t = self._data.split.targets_train[:, 0]
            pad = 0.05 * float(t.max() - t.min() + 1e-9)
            return float(t.min() - pad), float(t.max() + pad)
        return 0.0, 1.0  # per rule: the output activation's target range, mapped to 0 … 1 below

    def frame(self) -> dict[str, Any]:
        """The rules' state now: new metric rows since the last frame, regions, hidden units' outputs."""
        low, high = self._value_range()
        out = []
        for k, session in enumerate(self.sessions):
            net = session.plan.network
            grid_inputs, hidden_inputs = self._inputs[k]
            n = grid_inputs.shape[0]
            classes = np.empty(n, dtype=np.int64)
            values = np.empty(n, dtype=net.np_dtype)
            grid_outputs(session.params, net.layout, net.act_args, grid_inputs, session.plan.threshold, classes,
                         values, np.empty((n, 0), dtype=net.np_dtype))
            entry: dict[str, Any] = {"epoch": session.epoch, "status": self._status(session),
                                     "message": session.record.message, "metrics": self._new_metrics(k, session)}
            if self.regression:
                entry["values"] = _b64(quantise(values, low, high))
            elif net.sizes[-1] == 1:
                # One byte per point carries both: the output's shade, on the side of 127.5 its class is on
                # (the class decides, so the regions are exactly the predicted classes).
                off, on = target_range(net.output_activation)
                shade = quantise(values, off, on)
                entry["values"] = _b64(np.where(classes == 1, np.maximum(shade, 128), np.minimum(shade, 127)))
            else:
                entry["classes"] = _b64(classes)
            entry["hidden"] = self._hidden(session, net, hidden_inputs)
            out.append(entry)
        return {"type": "frame", "clock": self.clock, "finished": self.finished, "rules": out}

    def _hidden(self, session: Session, net: Network, inputs: np.ndarray) -> list[dict[str, Any]]:
        n_hidden = min(net.n_units - net.sizes[-1], MAX_HIDDEN_SHOWN)
        if n_hidden <= 0:
            return []
        m = inputs.shape[0]
        hidden = np.empty((m, n_hidden), dtype=net.np_dtype)
        grid_outputs(session.params, net.layout, net.act_args, inputs, session.plan.threshold,
                     np.empty(m, dtype=np.int64), np.empty(m, dtype=net.np_dtype), hidden)
        shown, start = [], 0
        for layer, size in enumerate(net.sizes[1:-1]):
            fixed = _activation_range(net.activations[layer])
            for unit in range(size):
                if start + unit >= n_hidden:
                    break
                column = hidden[:, start + unit].astype(np.float64)
                if fixed is None:  # unbounded (relu, linear): symmetric about 0, by the largest output
                    reach = float(np.nanmax(np.abs(column))) if column.size else 1.0
                    fixed_here = (-reach, reach) if reach > 0 else (-1.0, 1.0)
                else:
                    fixed_here = fixed
                shown.append({"range": list(fixed_here), "values": _b64(quantise(column, *fixed_here))})
            start += size
        return shown

    def _new_metrics(self, k: int, session: Session) -> dict[str, list]:
        """The curves' new points: epochs and the metrics of CURVES each block has, since the last frame."""
        blocks = session.record.blocks[self._sent[k]:]
        self._sent[k] = len(session.record.blocks)
        epochs: list[int] = []
        columns: dict[str, list] = {name: [] for name in CURVES}
        for block in blocks:
            epochs.extend(int(e) for e in block.epochs)
            for name in CURVES:
                if name in block.names:
                    columns[name].extend(_round(block.values[:, block.names.index(name)]))
                else:
                    columns[name].extend([None] * len(block.epochs))
        return {"epoch": epochs, **{name: values for name, values in columns.items() if any(
            v is not None for v in values)}}

    @staticmethod
    def _status(session: Session) -> str:
        return session.record.status if session.finished else "training"

    def exported_epochs(self) -> int:
        return self.clock

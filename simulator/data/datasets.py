"""Built-in datasets (all offline: generated from a seed or shipped with rulelab).

Each dataset declares its options as a pydantic model, so scenario files are
validated with the same messages as everything else, and a generator
``make(options, rng, base_dir) -> Dataset``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rulelab.data import playground


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (n, d) and integer labels ``y`` (n,), or real targets for regression."""

    X: np.ndarray
    y: np.ndarray | None
    n_classes: int = 0
    image_shape: tuple[int, int] | None = None
    targets: np.ndarray | None = None  # regression targets (n, k)
    coordinates: np.ndarray | None = None  # the 2-D points X was derived from (playground features), for figures

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateOptions(Options):
    encoding: Literal["binary", "bipolar"] = Field("binary", description="inputs 0/1 or ±1")


class ParityOptions(Options):
    n_bits: int = Field(3, ge=1, le=16, description="number of input bits")
    encoding: Literal["binary", "bipolar"] = "binary"


class BlobOptions(Options):
    n_samples: int = Field(200, ge=2)
    centers: int = Field(2, ge=2, description="number of blobs (= classes)")
    n_features: int = Field(2, ge=1)
    std: float = Field(1.0, gt=0, description="standard deviation of each blob")
    box: float = Field(5.0, gt=0, description="centres are uniform in [−box, box]^d")


class NoisyOptions(Options):
    n_samples: int = Field(200, ge=2)
    noise: float = Field(0.1, ge=0, description="std of the Gaussian noise added to each point")


class CircleOptions(NoisyOptions):
    factor: float = Field(0.5, gt=0, lt=1, description="radius of the inner circle / outer circle")


class DigitsOptions(Options):
    scale: bool = Field(True, description="divide pixel values (0–16) by 16")


class RandomPatternOptions(Options):
    n_patterns: int = Field(20, ge=1)
    length: int = Field(100, ge=1)
    n_classes: int = Field(2, ge=2, description="random labels drawn uniformly")
    encoding: Literal["binary", "bipolar"] = "bipolar"
    p: float = Field(0.5, gt=0, lt=1, description="probability that a bit is on")


class TableOptions(Options):
    inputs: list[list[float]] = Field(min_length=1, description="rows of input values")
    targets: list[list[float]] | None = Field(None, description="rows of real-valued targets (regression)")
    labels: list[int] | None = Field(None, description="class labels 0, 1, … (classification)")


class GaussianOptions(Options):
    n_samples: int = Field(1000, ge=2)
    variances: list[float] = Field([4.0, 2.0, 1.0, 0.5, 0.25], min_length=1,
                                   description="variance along each principal axis (the dimension is their count)")


FeatureName = Literal["x1", "x2", "x1_squared", "x2_squared", "x1_times_x2", "sin_x1", "sin_x2"]


class PlaygroundOptions(Options):
    """TensorFlow Playground's controls: points, noise, training share and the input features."""

    n_samples: int = Field(500, ge=2, description="number of points (the playground: 500)")
    noise: float = Field(0.0, ge=0, le=0.5, description="the playground's noise slider / 100 (0 … 0.5)")
    train_percent: float = Field(50.0, gt=0, lt=100, description="share of the points used for training, in % "
                                 "(the rest is the test set; sets task.test_fraction)")
    features: list[FeatureName] = Field(["x1", "x2"], min_length=1, description="input features, in order: "
                                        "x1, x2, x1_squared, x2_squared, x1_times_x2, sin_x1, sin_x2")

    @model_validator(mode="after")
    def _distinct_features(self) -> "PlaygroundOptions":
        repeated = sorted({f for f in self.features if self.features.count(f) > 1})
        if repeated:
            raise ValueError(f"features: {', '.join(repeated)} given more than once")
        return self


class PlaygroundRegressionOptions(PlaygroundOptions):
    n_samples: int = Field(1200, ge=2, description="number of points (the playground: 1200)")


class CsvOptions(Options):
    path: str = Field(description="CSV file; relative paths are relative to the scenario file")
    label_column: str | int = Field(-1, description="column name or index of the label")
    delimiter: str = ","


class NpzOptions(Options):
    path: str = Field(description="NPZ file; relative paths are relative to the scenario file")
    x_key: str = "X"
    y_key: str = "y"


def _binary_inputs(n_bits: int, encoding: str) -> np.ndarray:
    grid = (np.arange(2 ** n_bits)[:, None] >> np.arange(n_bits - 1, -1, -1)) & 1
    X = grid.astype(np.float64)
    return 2.0 * X - 1.0 if encoding == "bipolar" else X


def _gate(truth: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    def make(opts: GateOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
        bits = _binary_inputs(2, "binary").astype(bool)
        y = truth(bits[:, 0], bits[:, 1]).astype(np.int64)
        return Dataset(_binary_inputs(2, opts.encoding), y, 2)

    return make


def make_parity(opts: ParityOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    bits = _binary_inputs(opts.n_bits, "binary")
    y = (bits.sum(axis=1) % 2).astype(np.int64)
    return Dataset(_binary_inputs(opts.n_bits, opts.encoding), y, 2)


def make_blobs(opts: BlobOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    centres = rng.uniform(-opts.box, opts.box, size=(opts.centers, opts.n_features))
    y = np.arange(opts.n_samples) % opts.centers
    X = centres[y] + rng.normal(0.0, opts.std, size=(opts.n_samples, opts.n_features))
    return Dataset(X, y.astype(np.int64), opts.centers)


def make_moons(opts: NoisyOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    n_out = opts.n_samples // 2
    n_in = opts.n_samples - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack([
        np.column_stack([np.cos(t_out), np.sin(t_out)]),
        np.column_stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)]),
    ])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return Dataset(X + rng.normal(0.0, opts.noise, size=X.shape), y, 2)


def make_circles(opts: CircleOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    n_out = opts.n_samples // 2
    n_in = opts.n_samples - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack([
        np.column_stack([np.cos(t_out), np.sin(t_out)]),
        opts.factor * np.column_stack([np.cos(t_in), np.sin(t_in)]),
    ])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return Dataset(X + rng.normal(0.0, opts.noise, size=X.shape), y, 2)


def make_spiral(opts: NoisyOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    """Two interleaved spirals, as in TensorFlow Playground (radius grows with the angle)."""
    n0 = opts.n_samples // 2
    parts, labels = [], []
    for label, (n, delta) in enumerate([(n0, 0.0), (opts.n_samples - n0, np.pi)]):
        r = np.arange(n) / n * 5.0
        t = 1.75 * np.arange(n) / n * 2 * np.pi + delta
        parts.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        labels.append(np.full(n, label, np.int64))
    X = np.vstack(parts)
    return Dataset(X + rng.normal(0.0, opts.noise, size=X.shape), np.concatenate(labels), 2)


def make_digits(opts: DigitsOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    data = load_digits_array()
    X = data[:, :-1] / 16.0 if opts.scale else data[:, :-1].copy()
    return Dataset(X, data[:, -1].astype(np.int64), 10, image_shape=(8, 8))


def load_digits_array() -> np.ndarray:
    """The shipped 1797 × 65 digits table (64 pixels, then the label)."""
    ref = resources.files("rulelab.data") / "digits.csv.gz"
    with ref.open("rb") as raw, gzip.open(raw, "rt") as text:
        return np.loadtxt(text, delimiter=",")


def make_random_patterns(opts: RandomPatternOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    bits = (rng.random((opts.n_patterns, opts.length)) < opts.p).astype(np.float64)
    X = 2.0 * bits - 1.0 if opts.encoding == "bipolar" else bits
    y = rng.integers(0, opts.n_classes, size=opts.n_patterns).astype(np.int64)
    return Dataset(X, y, opts.n_classes)


def make_table(opts: TableOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    X = np.asarray(opts.inputs, dtype=np.float64)
    n = X.shape[0]
    if X.ndim != 2:
        raise ValueError("inputs: every row needs the same number of values")
    targets = None if opts.targets is None else np.asarray(opts.targets, dtype=np.float64)
    if targets is not None and (targets.ndim != 2 or targets.shape[0] != n):
        raise ValueError(f"targets: expected {n} rows of equal length, like inputs")
    if opts.labels is not None and len(opts.labels) != n:
        raise ValueError(f"labels: expected {n} labels, one per input row")
    if targets is None and opts.labels is None:
        raise ValueError("give targets (regression) or labels (classification)")
    y = None if opts.labels is None else np.asarray(opts.labels, dtype=np.int64)
    n_classes = 0 if y is None else int(y.max()) + 1
    return Dataset(X, y, n_classes, targets=targets)


def make_gaussian(opts: GaussianOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    """Zero-mean Gaussian data with known principal axes: a seeded rotation of independent axes."""
    d = len(opts.variances)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    z = rng.normal(size=(opts.n_samples, d)) * np.sqrt(np.asarray(opts.variances, dtype=float))
    return Dataset(z @ rotation.T, None, 0)


# 10 × 10 letter bitmaps for Hopfield recall demonstrations ('#' = +1, '.' = −1).
LETTERS = {
    "A": ["....##....", "...####...", "..##..##..", ".##....##.", ".##....##.",
          ".########.", ".##....##.", ".##....##.", ".##....##.", ".........."],
    "C": ["..######..", ".##....##.", "##........", "##........", "##........",
          "##........", "##........", ".##....##.", "..######..", ".........."],
    "E": [".#######..", ".##.......", ".##.......", ".##.......", ".######...",
          ".##.......", ".##.......", ".##.......", ".#######..", ".........."],
    "H": ["##......##", "##......##", "##......##", "##......##", "##########",
          "##......##", "##......##", "##......##", "##......##", ".........."],
    "L": [".##.......", ".##.......", ".##.......", ".##.......", ".##.......",
          ".##.......", ".##.......", ".##.......", ".#######..", ".........."],
    "T": ["##########", "....##....", "....##....", "....##....", "....##....",
          "....##....", "....##....", "....##....", "....##....", ".........."],
    "X": ["##......##", ".##....##.", "..##..##..", "...####...", "....##....",
          "...####...", "..##..##..", ".##....##.", "##......##", ".........."],
    "O": ["..######..", ".##....##.", "##......##", "##......##", "##......##",
          "##......##", "##......##", ".##....##.", "..######..", ".........."],
}


class LetterOptions(Options):
    letters: str = Field("ACHLTX", min_length=1, description="which letters, e.g. ACHLTX (from ACEHLTXO)")


def make_letters(opts: LetterOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    unknown = sorted(set(opts.letters) - set(LETTERS))
    if unknown:
        raise ValueError(f"no bitmap for {', '.join(unknown)}; available letters: {''.join(LETTERS)}")
    X = np.array([[1.0 if c == "#" else -1.0 for row in LETTERS[ch] for c in row] for ch in opts.letters])
    return Dataset(X, np.arange(len(X), dtype=np.int64), len(X), image_shape=(10, 10))


def _resolve(path: str, base_dir: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


def _labels_to_ints(raw: np.ndarray) -> tuple[np.ndarray, int]:
    classes, y = np.unique(raw, return_inverse=True)
    return y.astype(np.int64), len(classes)


def make_csv(opts: CsvOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    path = _resolve(opts.path, base_dir)
    with open(path, newline="") as fh:
        first = fh.readline().strip().split(opts.delimiter)
    has_header = any(not _is_number(cell) for cell in first)
    table = np.genfromtxt(path, delimiter=opts.delimiter, dtype=str, skip_header=1 if has_header else 0)
    table = np.atleast_2d(table)
    col = opts.label_column
    if isinstance(col, str):
        if not has_header or col not in first:
            raise ValueError(f"{path}: no column named {col!r} (columns: {first})")
        col = first.index(col)
    col = col % table.shape[1]
    features = np.delete(table, col, axis=1).astype(np.float64)
    y, n_classes = _labels_to_ints(table[:, col])
    return Dataset(features, y, n_classes)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def make_npz(opts: NpzOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    path = _resolve(opts.path, base_dir)
    with np.load(path) as data:
        for key in (opts.x_key, opts.y_key):
            if key not in data:
                raise ValueError(f"{path}: no array named {key!r} (arrays: {sorted(data.files)})")
        X = np.asarray(data[opts.x_key], dtype=np.float64).reshape(len(data[opts.x_key]), -1)
        y, n_classes = _labels_to_ints(np.asarray(data[opts.y_key]).ravel())
    return Dataset(X, y, n_classes)


def _playground_classification(name: str):
    generate = playground.CLASSIFICATION[name]

    def make(opts: PlaygroundOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
        points, labels = generate(opts.n_samples, opts.noise, rng)
        return Dataset(playground.derived_features(points, opts.features), (labels > 0).astype(np.int64), 2,
                       coordinates=points)

    return make


def _playground_regression(name: str):
    generate = playground.REGRESSION[name]

    def make(opts: PlaygroundOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
        points, targets = generate(opts.n_samples, opts.noise, rng)
        return Dataset(playground.derived_features(points, opts.features), None, 0, targets=targets[:, None],
                       coordinates=points)

    return make


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    Options: type[Options]
    make: Callable[[Options, np.random.Generator, Path], Dataset]


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo("and", "logical AND of two inputs (4 samples, linearly separable)", GateOptions,
                    _gate(np.logical_and)),
        DatasetInfo("or", "logical OR of two inputs (4 samples, linearly separable)", GateOptions,
                    _gate(np.logical_or)),
        DatasetInfo("nand", "logical NAND of two inputs (4 samples, linearly separable)", GateOptions,
                    _gate(lambda a, b: ~(a & b))),
        DatasetInfo("xor", "exclusive OR of two inputs (4 samples, not linearly separable)", GateOptions,
                    _gate(np.logical_xor)),
        DatasetInfo("parity", "n-bit parity: all 2^n patterns, label = number of ones mod 2", ParityOptions,
                    make_parity),
        DatasetInfo("blobs", "isotropic Gaussian blobs, one class per blob", BlobOptions, make_blobs),
        DatasetInfo("moons", "two interleaving half circles with Gaussian noise", NoisyOptions, make_moons),
        DatasetInfo("circles", "a small circle inside a large one, with Gaussian noise", CircleOptions,
                    make_circles),
        DatasetInfo("spiral", "two interleaved spirals (TensorFlow Playground), with noise", NoisyOptions,
                    make_spiral),
        DatasetInfo("digits", "8×8 handwritten digits, 1797 samples, 10 classes (UCI, CC BY 4.0)",
                    DigitsOptions, make_digits),
        DatasetInfo("random_patterns", "random binary or bipolar patterns with random labels",
                    RandomPatternOptions, make_random_patterns),
        DatasetInfo("letters", "10x10 bipolar letter bitmaps (A C E H L T X O) for associative recall",
                    LetterOptions, make_letters),
        DatasetInfo("gaussian", "zero-mean Gaussian with given variances along seeded principal axes (no labels)",
                    GaussianOptions, make_gaussian),
        DatasetInfo("playground_xor", "TensorFlow Playground's exclusive or: four noisy quadrants of [−5, 5]²",
                    PlaygroundOptions, _playground_classification("xor")),
        DatasetInfo("playground_gauss", "TensorFlow Playground's two Gaussian clusters (wider with noise)",
                    PlaygroundOptions, _playground_classification("gauss")),
        DatasetInfo("playground_circle", "TensorFlow Playground's circle: a disc inside a ring, noisy labels",
                    PlaygroundOptions, _playground_classification("circle")),
        DatasetInfo("playground_spiral", "TensorFlow Playground's two spirals, jittered points",
                    PlaygroundOptions, _playground_classification("spiral")),
        DatasetInfo("playground_plane", "TensorFlow Playground's regression plane: target (x1 + x2)/10",
                    PlaygroundRegressionOptions, _playground_regression("plane")),
        DatasetInfo("playground_multi_gauss", "TensorFlow Playground's regression: six bumps of alternating sign",
                    PlaygroundRegressionOptions, _playground_regression("multi_gauss")),
        DatasetInfo("table", "values written in the scenario: inputs with targets or labels", TableOptions,
                    make_table),
        DatasetInfo("csv", "your own data: a CSV file with feature columns and a label column", CsvOptions,
                    make_csv),
        DatasetInfo("npz", "your own data: an NPZ file with arrays X (features) and y (labels)", NpzOptions,
                    make_npz),
    ]
}


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray
    y_train: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray | None
    targets_train: np.ndarray | None = None
    targets_test: np.ndarray | None = None
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    targets_val: np.ndarray | None = None
    coordinates_train: np.ndarray | None = None  # the 2-D points behind derived features (Dataset.coordinates)
    shift: np.ndarray | None = None  # standardisation applied: X = (raw − shift) / scale
    scale: np.ndarray | None = None


def split_dataset(data: Dataset, test_fraction: float, rng: np.random.Generator,
                  standardize: bool = False, validation_fraction: float = 0.0, stratify: bool = False) -> Split:
    """Seeded train/test split; the test set is empty when ``test_fraction`` is 0.

    ``validation_fraction`` of the remaining training rows is held out as a validation
    set (for tuning: the test set stays untouched).  Standardisation uses the training
    set's mean and std only (no leakage).

    With ``stratify`` every class keeps its share in each part: the same seeded
    permutation is drawn, and the test (then validation) rows are the first rows of each
    class in that order, as many per class as its share of the total (largest remainders
    decide the rounding), so the sizes of the parts are the same as without.
    """
    n = data.X.shape[0]
    order = rng.permutation(n)
    n_test = int(round(test_fraction * n))
    if stratify:
        test_idx, train_idx = _stratified_take(order, data.y, n_test)
    else:
        test_idx, train_idx = order[:n_test], order[n_test:]
    if n_test == 0:
        # Keep the natural order of tiny fixed tables (the truth table of a gate).
        train_idx = np.arange(n)
    n_val = int(round(validation_fraction * len(train_idx)))
    if stratify:
        val_idx, train_idx = _stratified_take(train_idx, data.y, n_val)
    else:
        val_idx, train_idx = train_idx[:n_val], train_idx[n_val:]
    X_train, X_test, X_val = data.X[train_idx], data.X[test_idx], data.X[val_idx]
    shift = scale = None
    if standardize:
        shift = X_train.mean(axis=0)
        scale = X_train.std(axis=0)
        scale[scale == 0] = 1.0
        X_train, X_test, X_val = ((a - shift) / scale for a in (X_train, X_test, X_val))
    labels, targets = data.y, data.targets

    def pick(values, idx):
        return None if values is None else values[idx]

    return Split(X_train, pick(labels, train_idx), X_test, pick(labels, test_idx),
                 pick(targets, train_idx), pick(targets, test_idx),
                 X_val if n_val else None, pick(labels, val_idx) if n_val else None,
                 pick(targets, val_idx) if n_val else None,
                 pick(data.coordinates, train_idx), shift, scale)


def stratified_counts(labels: np.ndarray, total: int) -> dict[int, int]:
    """How many rows of each class make up ``total`` rows in proportion: the floors of the exact
    shares, then one more for the largest remainders (ties: the larger class, then the lower label)."""
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * total / len(labels)
    counts = np.floor(exact).astype(np.int64)
    left = total - int(counts.sum())
    ranked = sorted(range(len(classes)), key=lambda k: (-(exact[k] - counts[k]), -sizes[k], classes[k]))
    for k in ranked[:left]:
        counts[k] += 1
    return {int(c): int(k) for c, k in zip(classes, counts)}


def _stratified_take(order: np.ndarray, labels: np.ndarray | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(taken, rest): the first rows of each class in ``order``, ``count`` in all, each class in proportion.
    Both keep the order they had in ``order``."""
    if labels is None:
        raise ValueError("a stratified split needs class labels")
    wanted = stratified_counts(labels[order], count)
    seen = {c: 0 for c in wanted}
    taken = np.zeros(len(order), dtype=bool)
    for position, row in enumerate(order):
        label = int(labels[row])
        if seen[label] < wanted[label]:
            seen[label] += 1
            taken[position] = True
    return order[taken], order[~taken]

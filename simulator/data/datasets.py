"""Built-in datasets (all offline: generated from a seed or shipped with rulelab).

Each dataset declares its options as a pydantic model, so scenario files are
validated with the same messages as everything else, a generator
``make(options, rng, base_dir) -> Dataset`` and, for generated data, its
``shape(options) -> DataShape``: validation learns the sizes from the options
without generating anything (``n_samples: 10000000000`` is refused, not built).
User data files (CSV, NPZ) are read; every value must be a finite number.
"""

from __future__ import annotations

import functools
import gzip
import math
import zipfile
from array import array
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Callable, Iterator, Literal

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
    sample_shape: tuple[int, ...] | None = None  # one row of X as (C, L) or (C, H, W); None: a flat vector
    targets: np.ndarray | None = None  # regression targets (n, k)
    coordinates: np.ndarray | None = None  # the 2-D points X was derived from (playground features), for figures

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


# Feature values shown when a dataset has no more distinct values than this (0/1, ±1 patterns).
FEW_VALUES = 5


@dataclass(frozen=True)
class DataShape:
    """What validation needs to know of a dataset, known without generating it: its sizes, whether
    it has labels or targets, and its distinct feature values when there are few (None: real-valued)."""

    n_rows: int
    n_features: int
    n_classes: int = 0
    has_labels: bool = True
    n_targets: int = 0  # columns of real-valued targets (regression); 0: none
    image_shape: tuple[int, int] | None = None
    values: tuple[float, ...] | None = None
    sample_shape: tuple[int, ...] | None = None  # one row as (C, L) or (C, H, W); None: a flat vector

    @property
    def nbytes(self) -> int:
        """Memory of the generated arrays: float64 features and targets, int64 labels."""
        return 8 * self.n_rows * (self.n_features + self.n_targets + (1 if self.has_labels else 0))

    @property
    def bipolar(self) -> bool:
        return self.values is not None and set(self.values) <= {-1.0, 1.0}

    @classmethod
    def of(cls, data: Dataset) -> "DataShape":
        distinct = np.unique(data.X)
        values = tuple(float(v) for v in distinct) if len(distinct) <= FEW_VALUES else None
        return cls(int(data.X.shape[0]), data.n_features, data.n_classes, data.y is not None,
                   0 if data.targets is None else int(data.targets.shape[1]), data.image_shape, values,
                   data.sample_shape)


class DatasetProblem(ValueError):
    """Data that cannot be made or read; ``key`` is the dataset option it is about (None: the data)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class Options(BaseModel):
    # Strict: a boolean is not a number, "3" is not 3; numbers are finite.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


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
    labels: list[Annotated[int, Field(ge=0)]] | None = Field(None, description="class labels 0, 1, … (classification)")


class GaussianOptions(Options):
    n_samples: int = Field(1000, ge=2)
    variances: list[Annotated[float, Field(ge=0)]] = Field(
        [4.0, 2.0, 1.0, 0.5, 0.25], min_length=1,
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


SampleShape = list[int] | None
SHAPE_HELP = ("shape of one sample: [channels, length] (signals) or [channels, height, width] (images), "
              "channel-major; the feature values must be that many")


class CsvOptions(Options):
    path: str = Field(description="CSV file; relative paths are relative to the scenario file")
    label_column: str | int = Field(-1, description="column name or index of the label")
    delimiter: str = Field(",", min_length=1)
    shape: SampleShape = Field(None, min_length=1, max_length=3, description=SHAPE_HELP)


class NpzOptions(Options):
    path: str = Field(description="NPZ file; relative paths are relative to the scenario file")
    x_key: str = "X"
    y_key: str = "y"
    shape: SampleShape = Field(None, min_length=1, max_length=3, description=SHAPE_HELP + "; default: X's own "
                               "shape per sample ((n, H, W): one-channel images (1, H, W); (n, C, H, W) as is)")


class MNIST1DOptions(Options):
    n_samples: int = Field(5000, ge=10, description="signals, n_samples // 10 of each digit (published: 5000)")
    seed: int | None = Field(42, ge=0, description="the data set's own seed (published: 42); null draws it "
                             "from the run's seed, a new data set per repeat")
    shuffle: bool = Field(False, description="spatially shuffled: one fixed permutation of the 40 positions")


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
    return Dataset(X, data[:, -1].astype(np.int64), 10, image_shape=(8, 8), sample_shape=(1, 8, 8))


def make_mnist1d_dataset(opts: MNIST1DOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    from rulelab.data.mnist1d import make_mnist1d

    seed = opts.seed if opts.seed is not None else int(rng.integers(2 ** 31))
    X, y = make_mnist1d(opts.n_samples, seed, opts.shuffle)
    return Dataset(X, y, 10, sample_shape=(1, X.shape[1]))


@functools.cache
def load_digits_array() -> np.ndarray:
    """The shipped 1797 × 65 digits table (64 pixels, then the label), read-only.

    Parsed once per process (the text parse is ~20 ms, as long as a short ES run on it); callers
    slice or scale it into arrays of their own."""
    ref = resources.files("rulelab.data") / "digits.csv.gz"
    with ref.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",")
    table.flags.writeable = False
    return table


def make_random_patterns(opts: RandomPatternOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    bits = (rng.random((opts.n_patterns, opts.length)) < opts.p).astype(np.float64)
    X = 2.0 * bits - 1.0 if opts.encoding == "bipolar" else bits
    y = rng.integers(0, opts.n_classes, size=opts.n_patterns).astype(np.int64)
    return Dataset(X, y, opts.n_classes)


def _table_shape(opts: TableOptions) -> DataShape:
    """Sizes of a table, checked row by row: np.asarray of ragged rows would fail with no row named."""
    n, width = len(opts.inputs), len(opts.inputs[0])
    _equal_rows(opts.inputs, "inputs")
    n_targets = 0
    if opts.targets is not None:
        if len(opts.targets) != n:
            raise DatasetProblem(f"got {len(opts.targets)} rows; expected {n}, one per input row", "targets")
        _equal_rows(opts.targets, "targets")
        n_targets = len(opts.targets[0])
    if opts.labels is not None and len(opts.labels) != n:
        raise DatasetProblem(f"got {len(opts.labels)} labels; expected {n}, one per input row", "labels")
    if opts.targets is None and opts.labels is None:
        raise DatasetProblem("give targets (regression) or labels (classification)")
    n_classes = 0 if opts.labels is None else max(opts.labels) + 1
    distinct = sorted({float(v) for row in opts.inputs for v in row})
    values = tuple(distinct) if len(distinct) <= FEW_VALUES else None
    return DataShape(n, width, n_classes, opts.labels is not None, n_targets, values=values)


def _equal_rows(rows: list[list[float]], key: str) -> None:
    width = len(rows[0])
    if width == 0:
        raise DatasetProblem("got an empty row; expected at least one value", f"{key}[0]")
    for i, row in enumerate(rows):
        if len(row) != width:
            raise DatasetProblem(f"got {len(row)} values; expected {width}, like {key}[0]", f"{key}[{i}]")


def make_table(opts: TableOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    _table_shape(opts)
    X = np.asarray(opts.inputs, dtype=np.float64)
    targets = None if opts.targets is None else np.asarray(opts.targets, dtype=np.float64)
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


def _check_letters(letters: str) -> None:
    unknown = sorted(set(letters) - set(LETTERS))
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise DatasetProblem(f"no bitmap for {shown}; available letters: {''.join(LETTERS)}", "letters")


def make_letters(opts: LetterOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    _check_letters(opts.letters)
    X = np.array([[1.0 if c == "#" else -1.0 for row in LETTERS[ch] for c in row] for ch in opts.letters])
    return Dataset(X, np.arange(len(X), dtype=np.int64), len(X), image_shape=(10, 10), sample_shape=(1, 10, 10))


def _resolve(path: str, base_dir: Path) -> Path:
    try:
        p = Path(path).expanduser()
    except RuntimeError:  # ~name of a user with no home directory here
        raise DatasetProblem(f"got {path[:60]!r}; there is no home directory for {path.split('/')[0][:40]!r}",
                             "path") from None
    return p if p.is_absolute() else base_dir / p


def _labels_to_ints(raw: np.ndarray) -> tuple[np.ndarray, int]:
    classes, y = np.unique(raw, return_inverse=True)
    return y.astype(np.int64), len(classes)


MAX_CSV_LINE = 16_000_000  # bytes: a row of a million features fits


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each line with data: '#' starts a comment, blank lines are skipped
    (as numpy's genfromtxt, which this replaces, did).  Lines are read one at a time, as bytes,
    so that a line that is not UTF-8 is named."""
    if not path.is_file() and path.exists():
        raise DatasetProblem(f"{path}: not a regular file")
    with open(path, "rb") as fh:
        # Lines are read with a cap: a file with no line breaks (or /dev/zero) is not read whole.
        for number, raw in enumerate(iter(lambda: fh.readline(MAX_CSV_LINE + 1), b""), start=1):
            if len(raw) > MAX_CSV_LINE:
                raise DatasetProblem(f"{path}: line {number} is longer than {MAX_CSV_LINE // 1_000_000} MB; "
                                     "expected CSV text")
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise DatasetProblem(f"{path}: line {number} is not UTF-8 text; save the file as UTF-8") from None
            text = line.split("#", 1)[0].rstrip("\r\n")
            if text.strip():
                yield number, text.split(delimiter)


def make_csv(opts: CsvOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    path = _resolve(opts.path, base_dir)
    rows = _csv_rows(path, opts.delimiter)
    first = next(rows, None)
    if first is None:
        raise DatasetProblem(f"{path}: no data (the file is empty or holds only comments)")
    header = first[1] if any(not _is_number(cell) for cell in first[1]) else None
    width = len(first[1])
    col = _label_index(opts.label_column, header, width, path)
    features: array = array("d")
    labels: list[str] = []
    for number, cells in (rows if header is not None else _chain_first(first, rows)):
        if len(cells) != width:
            raise DatasetProblem(f"{path}: line {number} has {len(cells)} values; expected {width}, like line "
                                 f"{first[0]}")
        for j, cell in enumerate(cells):
            if j != col:
                features.append(_finite_number(cell, path, number, j))
        labels.append(cells[col])
    if not labels:
        raise DatasetProblem(f"{path}: no data rows, only a header")
    if width < 2:
        raise DatasetProblem(f"{path}: only one column; expected feature columns and a label column")
    X = np.frombuffer(features, dtype=np.float64).reshape(len(labels), width - 1).copy()
    y, n_classes = _labels_to_ints(np.asarray(labels))
    shape = _sample_shape(opts.shape, X.shape[1], path)
    return Dataset(X, y, n_classes, image_shape=_image(shape), sample_shape=shape)


def _chain_first(first: tuple[int, list[str]], rest: Iterator[tuple[int, list[str]]]):
    yield first
    yield from rest


def _label_index(column: str | int, header: list[str] | None, width: int, path: Path) -> int:
    if isinstance(column, str):
        if header is None or column not in header:
            names = ", ".join(repr(c) for c in (header or [])[:10]) + (" …" if header and len(header) > 10 else "")
            raise DatasetProblem(f"{path}: no column named {column[:60]!r} (columns: {names or 'no header line'})",
                                 "label_column")
        return header.index(column)
    if not -width <= column < width:
        raise DatasetProblem(f"got {column}; {path} has {width} columns (0 … {width - 1}, or −1 for the last)",
                             "label_column")
    return column % width


def _finite_number(cell: str, path: Path, line: int, column: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DatasetProblem(f"{path}: line {line}, column {column + 1}: got {cell[:40]!r}; expected a number") \
            from None
    if not math.isfinite(value):
        raise DatasetProblem(f"{path}: line {line}, column {column + 1}: got {cell.strip()[:40]!r}; "
                             "expected a finite number")
    return value


def _sample_shape(shape: list[int] | None, n_features: int, path: Path) -> tuple[int, ...] | None:
    """A declared sample shape, checked against the number of features."""
    if shape is None:
        return None
    if any(v < 1 for v in shape) or math.prod(shape) != n_features:
        raise DatasetProblem(f"{path}: shape {shape} holds {math.prod(shape)} values; each sample has "
                             f"{n_features} features", "shape")
    return tuple(int(v) for v in shape)


def _image(shape: tuple[int, ...] | None) -> tuple[int, int] | None:
    """The (height, width) to draw a one-channel image sample as, if it is one."""
    return (shape[1], shape[2]) if shape is not None and len(shape) == 3 and shape[0] == 1 else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def make_npz(opts: NpzOptions, rng: np.random.Generator, base_dir: Path) -> Dataset:
    path = _resolve(opts.path, base_dir)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetProblem(f"{path}: not an NPZ file ({str(exc)[:100]})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetProblem(f"{path}: a single array (.npy), not an NPZ archive of X and y; "
                             "save with numpy.savez(path, X=…, y=…)")
    with archive as data:
        for key in (opts.x_key, opts.y_key):
            if key not in data.files:
                names = ", ".join(repr(k) for k in sorted(data.files)[:10])
                raise DatasetProblem(f"{path}: no array named {key[:60]!r} (arrays: {names})")
        shapes = {key: _npz_shape(data, key, path) for key in (opts.x_key, opts.y_key)}
        x_shape, y_shape = shapes[opts.x_key], shapes[opts.y_key]
        if len(x_shape) == 0 or x_shape[0] == 0:
            raise DatasetProblem(f"{path}: {opts.x_key} holds no rows (shape {x_shape})")
        n_values = math.prod(x_shape)
        _check_fits_memory(8 * n_values, f"{path}: {opts.x_key} of shape {x_shape} would take")
        if math.prod(y_shape) != x_shape[0]:
            raise DatasetProblem(f"{path}: {opts.y_key} has {math.prod(y_shape)} values; expected one label per "
                                 f"row of {opts.x_key} ({x_shape[0]})")
        try:
            X = np.asarray(data[opts.x_key], dtype=np.float64).reshape(x_shape[0], -1)
            raw_shape = tuple(int(v) for v in x_shape)
            labels = np.asarray(data[opts.y_key]).ravel()
        except (ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:
            raise DatasetProblem(f"{path}: cannot read the arrays ({str(exc)[:100]})") from None
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        row, column = (int(i) for i in bad[0])
        raise DatasetProblem(f"{path}: {opts.x_key} row {row}, value {column}: got {X[row, column]}; "
                             "expected finite numbers")
    y, n_classes = _labels_to_ints(labels)
    if opts.shape is None and len(raw_shape) in (3, 4):  # image stacks: (n, H, W) one channel, (n, C, H, W)
        shape = (1,) + raw_shape[1:] if len(raw_shape) == 3 else raw_shape[1:]
    else:
        shape = _sample_shape(opts.shape, X.shape[1], path)
    return Dataset(X, y, n_classes, image_shape=_image(shape), sample_shape=shape)


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


def _npz_shape(data: np.lib.npyio.NpzFile, key: str, path: Path) -> tuple[int, ...]:
    """An array's shape from its header, before its data is read (an archive may be a zip bomb)."""
    try:
        with data.zip.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(member)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise DatasetProblem(f"{path}: {key} is not a readable array ({str(exc)[:100]})") from None
    if dtype.hasobject:
        raise DatasetProblem(f"{path}: {key} holds Python objects; expected numbers")
    return tuple(int(n) for n in shape)


def _check_fits_memory(nbytes: int, what: str) -> None:
    from rulelab.scenario.limits import format_bytes, memory_bytes

    if nbytes > memory_bytes():
        raise DatasetProblem(f"{what} {format_bytes(nbytes)} as float64; this machine has "
                             f"{format_bytes(memory_bytes())} of memory")


def _encoding_values(encoding: str) -> tuple[float, ...]:
    return (-1.0, 1.0) if encoding == "bipolar" else (0.0, 1.0)


def _letters_shape(opts: LetterOptions) -> DataShape:
    _check_letters(opts.letters)
    n = len(opts.letters)
    return DataShape(n, 100, n, image_shape=(10, 10), values=(-1.0, 1.0), sample_shape=(1, 10, 10))


def _playground_shape(opts: PlaygroundOptions) -> DataShape:
    return DataShape(opts.n_samples, len(opts.features), 2)


def _playground_regression_shape(opts: PlaygroundOptions) -> DataShape:
    return DataShape(opts.n_samples, len(opts.features), 0, has_labels=False, n_targets=1)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    Options: type[Options]
    make: Callable[[Options, np.random.Generator, Path], Dataset]
    # Sizes from the options alone, for validation (None: the data must be read to know them).
    shape: Callable[[Options], DataShape] | None = None

    def describe(self, options: Options, base_dir: Path) -> DataShape:
        """The dataset's shape: computed for generated data (nothing is allocated), read for files."""
        if self.shape is not None:
            return self.shape(options)
        return DataShape.of(self.make(options, np.random.default_rng(0), base_dir))


_GATE_SHAPE = lambda o: DataShape(4, 2, 2, values=_encoding_values(o.encoding))  # noqa: E731
_PLANE_SHAPE = lambda o: DataShape(o.n_samples, 2, 2)  # noqa: E731


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo("and", "logical AND of two inputs (4 samples, linearly separable)", GateOptions,
                    _gate(np.logical_and), _GATE_SHAPE),
        DatasetInfo("or", "logical OR of two inputs (4 samples, linearly separable)", GateOptions,
                    _gate(np.logical_or), _GATE_SHAPE),
        DatasetInfo("nand", "logical NAND of two inputs (4 samples, linearly separable)", GateOptions,
                    _gate(lambda a, b: ~(a & b)), _GATE_SHAPE),
        DatasetInfo("xor", "exclusive OR of two inputs (4 samples, not linearly separable)", GateOptions,
                    _gate(np.logical_xor), _GATE_SHAPE),
        DatasetInfo("parity", "n-bit parity: all 2^n patterns, label = number of ones mod 2", ParityOptions,
                    make_parity, lambda o: DataShape(2 ** o.n_bits, o.n_bits, 2, values=_encoding_values(o.encoding))),
        DatasetInfo("blobs", "isotropic Gaussian blobs, one class per blob", BlobOptions, make_blobs,
                    lambda o: DataShape(o.n_samples, o.n_features, o.centers)),
        DatasetInfo("moons", "two interleaving half circles with Gaussian noise", NoisyOptions, make_moons,
                    _PLANE_SHAPE),
        DatasetInfo("circles", "a small circle inside a large one, with Gaussian noise", CircleOptions,
                    make_circles, _PLANE_SHAPE),
        DatasetInfo("spiral", "two interleaved spirals (TensorFlow Playground), with noise", NoisyOptions,
                    make_spiral, _PLANE_SHAPE),
        DatasetInfo("digits", "8×8 handwritten digits as 1×8×8 images, 1797 samples, 10 classes (UCI, CC BY 4.0)",
                    DigitsOptions, make_digits,
                    lambda o: DataShape(1797, 64, 10, image_shape=(8, 8), sample_shape=(1, 8, 8))),
        DatasetInfo("mnist1d", "MNIST-1D (Greydanus & Kobak 2020): 1×40 signals of ten digits, 5000, generated "
                    "locally; shuffle: true for the spatially shuffled variant", MNIST1DOptions,
                    make_mnist1d_dataset,
                    lambda o: DataShape(o.n_samples // 10 * 10, 40, 10, sample_shape=(1, 40))),
        DatasetInfo("random_patterns", "random binary or bipolar patterns with random labels",
                    RandomPatternOptions, make_random_patterns,
                    lambda o: DataShape(o.n_patterns, o.length, o.n_classes, values=_encoding_values(o.encoding))),
        DatasetInfo("letters", "10x10 bipolar letter bitmaps (A C E H L T X O) for associative recall",
                    LetterOptions, make_letters, _letters_shape),
        DatasetInfo("gaussian", "zero-mean Gaussian with given variances along seeded principal axes (no labels)",
                    GaussianOptions, make_gaussian,
                    lambda o: DataShape(o.n_samples, len(o.variances), 0, has_labels=False)),
        DatasetInfo("playground_xor", "TensorFlow Playground's exclusive or: four noisy quadrants of [−5, 5]²",
                    PlaygroundOptions, _playground_classification("xor"), _playground_shape),
        DatasetInfo("playground_gauss", "TensorFlow Playground's two Gaussian clusters (wider with noise)",
                    PlaygroundOptions, _playground_classification("gauss"), _playground_shape),
        DatasetInfo("playground_circle", "TensorFlow Playground's circle: a disc inside a ring, noisy labels",
                    PlaygroundOptions, _playground_classification("circle"), _playground_shape),
        DatasetInfo("playground_spiral", "TensorFlow Playground's two spirals, jittered points",
                    PlaygroundOptions, _playground_classification("spiral"), _playground_shape),
        DatasetInfo("playground_plane", "TensorFlow Playground's regression plane: target (x1 + x2)/10",
                    PlaygroundRegressionOptions, _playground_regression("plane"), _playground_regression_shape),
        DatasetInfo("playground_multi_gauss", "TensorFlow Playground's regression: six bumps of alternating sign",
                    PlaygroundRegressionOptions, _playground_regression("multi_gauss"), _playground_regression_shape),
        DatasetInfo("table", "values written in the scenario: inputs with targets or labels", TableOptions,
                    make_table, _table_shape),
        DatasetInfo("csv", "your own data: a CSV file with feature columns and a label column (shape: a sample's "
                    "[C, L] or [C, H, W])", CsvOptions, make_csv),
        DatasetInfo("npz", "your own data: an NPZ file with arrays X (features, flat or images) and y (labels)",
                    NpzOptions, make_npz),
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

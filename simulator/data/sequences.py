"""Sequence data sets, generated (never downloaded): delayed recall and parity, the adding problem, the 8×8 digits
read row by row, MNIST-1D read as a 40-step signal, the embedded Reber grammar and next-character prediction.

Every set is three arrays: X (N × T·F: each row the T steps of F features, step by step), Y (N × T·C: the target
at each step, one-hot for classes) and M (N × T: 1 where a step's loss counts — the last step for a sequence's
class, every step for sequence to sequence).  Generators draw from the run's data generator only.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class SequenceSet:
    X: np.ndarray
    Y: np.ndarray
    M: np.ndarray
    steps: int
    features: int
    classes: int  # output units (classes, or real outputs for regression)
    regression: bool = False
    labels: np.ndarray | None = None  # the class of each sequence, for a stratified look at results
    vocabulary: str = ""  # next-character prediction: the characters, in unit order

    def __post_init__(self) -> None:
        n = self.X.shape[0]
        assert self.X.shape == (n, self.steps * self.features)
        assert self.Y.shape == (n, self.steps * self.classes) and self.M.shape == (n, self.steps)

    def rows(self, index: np.ndarray) -> "SequenceSet":
        return SequenceSet(np.ascontiguousarray(self.X[index]), np.ascontiguousarray(self.Y[index]),
                           np.ascontiguousarray(self.M[index]), self.steps, self.features, self.classes,
                           self.regression, None if self.labels is None else self.labels[index], self.vocabulary)

    @property
    def n(self) -> int:
        return self.X.shape[0]


class SequenceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
    n_samples: int = Field(1000, ge=4, le=1_000_000, description="sequences to generate")


def _last_step_classes(X: np.ndarray, labels: np.ndarray, steps: int, features: int, classes: int) -> SequenceSet:
    n = X.shape[0]
    Y = np.zeros((n, steps, classes))
    Y[np.arange(n), steps - 1, labels] = 1.0
    M = np.zeros((n, steps))
    M[:, -1] = 1.0
    return SequenceSet(np.ascontiguousarray(X.reshape(n, steps * features), dtype=np.float64),
                       Y.reshape(n, steps * classes), M, steps, features, classes, labels=labels)


class DelayedRecallOptions(SequenceOptions):
    bits: int = Field(1, ge=1, le=16, description="random bits shown at the first steps (±1)")
    delay: int = Field(10, ge=0, le=10_000, description="blank steps between the last bit and the recall cue")
    target: Literal["parity", "first"] = Field("parity", description="answer at the cue: the bits' parity (XOR) "
                                                                   "or the first bit")


def delayed_recall(opts: DelayedRecallOptions, rng: np.random.Generator) -> SequenceSet:
    """Bits (±1 on feature 0) at steps 0 … bits−1, ``delay`` blank steps, then a cue (feature 1 = 1) at the last step,
    where the net must answer the parity (XOR) of the bits, or the first bit: T = bits + delay + 1.  The answer
    depends on inputs ``delay`` + 1 or more steps back: the gradient has to survive that many steps."""
    n, k = opts.n_samples, opts.bits
    T = k + opts.delay + 1
    bits = rng.integers(0, 2, size=(n, k))
    X = np.zeros((n, T, 2))
    X[:, :k, 0] = 2.0 * bits - 1.0
    X[:, -1, 1] = 1.0
    labels = bits.sum(axis=1) % 2 if opts.target == "parity" else bits[:, 0]
    return _last_step_classes(X, labels.astype(np.int64), T, 2, 2)


class AddingOptions(SequenceOptions):
    steps: int = Field(50, ge=2, le=10_000, description="sequence length T")


def adding(opts: AddingOptions, rng: np.random.Generator) -> SequenceSet:
    """The adding problem (Hochreiter & Schmidhuber 1997; as in Le, Jaitly & Hinton 2015): feature 0 uniform on
    [0, 1], feature 1 marks one step in each half; the target at the last step is the sum of the two marked
    values (regression, ½ squared error; a step is right when |error| < 0.04)."""
    n, T = opts.n_samples, opts.steps
    X = np.zeros((n, T, 2))
    X[:, :, 0] = rng.uniform(0.0, 1.0, size=(n, T))
    first = rng.integers(0, T // 2, size=n)
    second = rng.integers(T // 2, T, size=n)
    X[np.arange(n), first, 1] = 1.0
    X[np.arange(n), second, 1] = 1.0
    target = X[np.arange(n), first, 0] + X[np.arange(n), second, 0]
    Y = np.zeros((n, T, 1))
    Y[:, -1, 0] = target
    M = np.zeros((n, T))
    M[:, -1] = 1.0
    return SequenceSet(X.reshape(n, T * 2), Y.reshape(n, T), M, T, 2, 1, regression=True)


class DigitsRowsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def digits_rows(opts: DigitsRowsOptions, rng: np.random.Generator) -> SequenceSet:
    """The 1797 8×8 digits read one row per step (T = 8, F = 8 pixels scaled to [0, 1]); class at the last step."""
    from rulelab.data.datasets import load_digits_array

    data = load_digits_array()
    return _last_step_classes(data[:, :-1] / 16.0, data[:, -1].astype(np.int64), 8, 8, 10)


class MNIST1DSequenceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    n_samples: int = Field(5000, ge=10, description="signals, n_samples // 10 of each digit (published: 5000)")
    seed: int = Field(42, ge=0, description="the data set's own seed (published: 42)")


def mnist1d_steps(opts: MNIST1DSequenceOptions, rng: np.random.Generator) -> SequenceSet:
    """MNIST-1D (Greydanus 2020, generated locally) read as a 40-step sequence of one value; class at the last step.
    The published GRU reaches about 91 % test accuracy."""
    from rulelab.data.mnist1d import make_mnist1d

    X, y = make_mnist1d(opts.n_samples, opts.seed, False)
    return _last_step_classes(X, y.astype(np.int64), X.shape[1], 1, 10)


class ReberOptions(SequenceOptions):
    n_samples: int = Field(500, ge=4, le=1_000_000, description="strings to generate")
    max_steps: int = Field(40, ge=10, le=1000, description="longer strings are drawn again; shorter are padded")


REBER_SYMBOLS = "BTSXPVE"
# The Reber grammar (Reber 1967) as in Fahlman 1991: state → [(symbol, next state), …], each choice p = ½.
_REBER = {0: [("T", 1), ("P", 2)], 1: [("S", 1), ("X", 3)], 2: [("T", 2), ("V", 4)], 3: [("X", 2), ("S", 5)],
          4: [("P", 3), ("V", 5)]}


def _reber_string(rng: np.random.Generator) -> str:
    out, state = "B", 0
    while state != 5:
        symbol, state = _REBER[state][rng.integers(0, 2)]
        out += symbol
    return out + "E"


def embedded_reber_string(rng: np.random.Generator) -> str:
    """B, then T or P, a Reber string, the same T or P again, then E (Fahlman 1991)."""
    branch = "TP"[rng.integers(0, 2)]
    return "B" + branch + _reber_string(rng) + branch + "E"


def embedded_reber(opts: ReberOptions, rng: np.random.Generator) -> SequenceSet:
    """Next-symbol prediction on embedded Reber strings: one-hot symbols in, the next symbol as target at every step
    (padding after the string counts nothing).  Only the symbol after the inner string's end needs long memory:
    the second T/P must repeat the first."""
    strings = []
    while len(strings) < opts.n_samples:
        s = embedded_reber_string(rng)
        if len(s) <= opts.max_steps + 1:
            strings.append(s)
    T, C = opts.max_steps, len(REBER_SYMBOLS)
    n = len(strings)
    X, Y, M = np.zeros((n, T, C)), np.zeros((n, T, C)), np.zeros((n, T))
    for r, s in enumerate(strings):
        codes = [REBER_SYMBOLS.index(ch) for ch in s]
        for t in range(len(codes) - 1):
            X[r, t, codes[t]] = 1.0
            Y[r, t, codes[t + 1]] = 1.0
            M[r, t] = 1.0
    return SequenceSet(X.reshape(n, T * C), Y.reshape(n, T * C), M, T, C, C, vocabulary=REBER_SYMBOLS)


class TextOptions(SequenceOptions):
    n_samples: int = Field(400, ge=4, le=1_000_000, description="windows cut at random places of the text")
    steps: int = Field(25, ge=2, le=1000, description="characters per window")


def shipped_text() -> str:
    """The opening of Lewis Carroll's Alice's Adventures in Wonderland (1865, public domain), lower case."""
    ref = resources.files("rulelab.data") / "alice.txt.gz"
    import gzip

    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        return " ".join(text.read().lower().split())


def next_character(opts: TextOptions, rng: np.random.Generator) -> SequenceSet:
    """Next-character prediction on the shipped text: windows of ``steps`` characters (one-hot), the following
    character as target at every step."""
    text = shipped_text()
    vocabulary = "".join(sorted(set(text)))
    codes = np.array([vocabulary.index(ch) for ch in text])
    T, C, n = opts.steps, len(vocabulary), opts.n_samples
    starts = rng.integers(0, len(codes) - T - 1, size=n)
    X, Y = np.zeros((n, T, C)), np.zeros((n, T, C))
    for r, start in enumerate(starts):
        X[r, np.arange(T), codes[start:start + T]] = 1.0
        Y[r, np.arange(T), codes[start + 1:start + T + 1]] = 1.0
    return SequenceSet(X.reshape(n, T * C), Y.reshape(n, T * C), np.ones((n, T)), T, C, C, vocabulary=vocabulary)


SEQUENCE_DATASETS: dict[str, tuple[type[BaseModel], Callable[[Any, np.random.Generator], SequenceSet], str]] = {
    "delayed_recall": (DelayedRecallOptions, delayed_recall, "bits, a delay, a cue: answer their parity or the "
                                                             "first bit (vanishing gradients as the delay grows)"),
    "adding": (AddingOptions, adding, "the adding problem (Hochreiter & Schmidhuber 1997), regression"),
    "digits_rows": (DigitsRowsOptions, digits_rows, "the 8×8 digits, one row per step"),
    "mnist1d": (MNIST1DSequenceOptions, mnist1d_steps, "MNIST-1D as a 40-step sequence (published GRU ≈ 91 %)"),
    "embedded_reber": (ReberOptions, embedded_reber, "next-symbol prediction on the embedded Reber grammar"),
    "next_character": (TextOptions, next_character, "next-character prediction on a shipped public-domain text"),
}


def make_sequences(name: str, options: dict[str, Any], rng: np.random.Generator) -> SequenceSet:
    """The named set with its options (ValueError / pydantic ValidationError on unknown names or bad options)."""
    if name not in SEQUENCE_DATASETS:
        raise ValueError(f"unknown sequence dataset {name!r}; known: {', '.join(SEQUENCE_DATASETS)}")
    options_model, make, _ = SEQUENCE_DATASETS[name]
    return make(options_model(**options), rng)

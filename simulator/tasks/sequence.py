"""Recurrent networks on the Python side: the net's shape, seeded initial weights, sequence rules and runs.

A recurrent net here is one Elman layer (notes 004: s_t = G(W s_{t−1} + U x_t + b), optionally leaky) under
a dense readout applied at every step (y_t = softmax(V s_t + c), or linear for regression).  The compiled
side (:mod:`rulelab.tasks.recurrent`) sees a flat parameter vector and two small arrays, ``dims`` and
``netf``.  Rules of kind ``sequence`` (BPTT, e-prop, …) pick one of its gradient modes; evolution
strategies train the same net with forward passes only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, ClassVar, Literal

import numpy as np

from rulelab.run.interrupts import CHUNK_SECONDS as DEFAULT_CHUNK_SECONDS, next_chunk
from rulelab.rule import HyperParameters, Needs, Rule
from rulelab.tasks import recurrent as R
from rulelab.tasks.sequence_params import SequenceParams

RECURRENT_ACTIVATIONS = ("tanh", "sigmoid", "relu")


@dataclass(frozen=True)
class RecurrentNet:
    """features → recurrent (hidden units, activation, leak α) → readout (classes), over ``steps`` steps."""

    features: int
    hidden: int
    classes: int
    steps: int
    activation: str = "tanh"
    output: Literal["softmax", "linear"] = "softmax"
    leak: float = 0.0
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.activation not in RECURRENT_ACTIVATIONS:
            raise ValueError(f"a recurrent layer's activation is one of {RECURRENT_ACTIVATIONS}; got {self.activation!r}")
        if min(self.features, self.hidden, self.classes, self.steps) < 1:
            raise ValueError("features, hidden units, classes and steps must be ≥ 1")
        if not 0.0 <= self.leak < 1.0:
            raise ValueError(f"the leak α is in [0, 1); got {self.leak}")

    @property
    def dims(self) -> np.ndarray:
        out = R.SOFTMAX_CE if self.output == "softmax" else R.LINEAR_SQUARED
        return np.array([self.features, self.hidden, self.classes, self.steps, R.ACTIVATION_CODES[self.activation],
                         out], dtype=np.int64)

    @property
    def netf(self) -> np.ndarray:
        return np.array([self.leak], dtype=np.float64)

    @property
    def n_params(self) -> int:
        H, F, C = self.hidden, self.features, self.classes
        return H * H + H * F + H + C * H + C

    @property
    def n_inputs(self) -> int:
        return self.steps * self.features

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def kinds(self) -> tuple[str, ...]:
        return ("recurrent", "dense")

    # What the rest of rulelab reads of a feed-forward Network, as an objective's SearchSpace gives it:
    # a recurrent net has no layout table (its shape is ``dims``).
    @property
    def layout(self) -> np.ndarray:
        return np.zeros((0, 20), dtype=np.int64)

    @property
    def act_args(self) -> np.ndarray:
        return np.zeros(0)

    tied = False
    sizes: tuple[int, ...] = ()
    specs: tuple = ()
    activations: tuple[str, ...] = ()
    dense_only = False

    @property
    def n_units(self) -> int:
        return 0

    @property
    def output_activation(self) -> str:
        return self.output

    def parts(self, params: np.ndarray) -> dict[str, np.ndarray]:
        """Views W (H×H), U (H×F), b (H), V (C×H), c (C) of a flat parameter vector."""
        H, F, C = self.hidden, self.features, self.classes
        ou, ob, ov, oc, end = (int(v) for v in R.offsets(self.dims))
        return {"W": params[:ou].reshape(H, H), "U": params[ou:ob].reshape(H, F), "b": params[ob:ov],
                "V": params[ov:oc].reshape(C, H), "c": params[oc:end]}

    def summary(self) -> list[tuple[str, str, int]]:
        """(layer, output shape, parameters), as ``rulelab validate`` prints them."""
        H, F, C = self.hidden, self.features, self.classes
        leak = f", leak {self.leak:g}" if self.leak else ""
        return [("input", f"{self.steps}×{F}", 0),
                (f"recurrent {H}, {self.activation}{leak}", f"{self.steps}×{H}", H * H + H * F + H),
                (f"dense {C}, {self.output} (every step)", f"{self.steps}×{C}", C * H + C)]

    def init_params(self, rng: np.random.Generator, scheme: str = "pytorch", gain: float = 1.0) -> np.ndarray:
        """Seeded weights: ``pytorch`` (every value uniform ±1/√H, nn.RNN's and the readout Linear's default),
        ``orthogonal`` (the same, then W ← gain · a random orthogonal matrix — Saxe et al. 2014 — so that the
        state neither shrinks nor grows at first) or ``glorot`` (uniform ±√(6/(fan_in + fan_out)) per matrix,
        zero biases); drawn W, U, b, V, c in order from one generator."""
        params = np.zeros(self.n_params)
        parts = self.parts(params)
        limit = 1.0 / np.sqrt(self.hidden)
        for name in ("W", "U", "b", "V", "c"):
            view = parts[name]
            if scheme in ("pytorch", "orthogonal"):
                view[...] = rng.uniform(-limit, limit, view.shape)
            elif scheme == "glorot":
                if view.ndim == 2:
                    bound = np.sqrt(6.0 / (view.shape[0] + view.shape[1]))
                    view[...] = rng.uniform(-bound, bound, view.shape)
            else:
                raise ValueError(f"unknown initialisation scheme {scheme!r} for a recurrent net (pytorch, "
                                 "orthogonal, glorot)")
        if scheme == "orthogonal":
            q, r = np.linalg.qr(rng.normal(size=(self.hidden, self.hidden)))
            parts["W"][...] = gain * q * np.sign(np.diag(r))  # Haar-distributed (Mezzadri 2007)
        return params


class SequenceRule(Rule):
    """Base class of rules that train a recurrent net from its per-step errors (kind ``sequence``).

    ``mode`` picks the compiled gradient (rulelab.tasks.recurrent BPTT or EPROP); ``feedback`` says what
    carries the readout's error e_t to the hidden units: V itself (``transpose``) or a fixed random B of
    V's shape (``random``: feedback alignment, Lillicrap et al. 2016; random e-prop).
    """

    kind: ClassVar[str] = "sequence"
    family: ClassVar[str] = "gradient"
    layer_kinds: ClassVar[tuple[str, ...]] = ("recurrent", "dense")
    signal: ClassVar[str] = "online_loss"
    needs: ClassVar[Needs] = Needs(labels=True, differentiable=True, weight_transport=True)
    local: ClassVar[bool] = False
    mode: ClassVar[int] = R.BPTT
    feedback: ClassVar[str] = "transpose"
    Params: ClassVar[type[HyperParameters]] = SequenceParams

    def feedback_kind(self) -> str:
        return getattr(self.params, "feedback", self.feedback)

    def kind_problem(self, net) -> str | None:
        """A sequence rule trains a recurrent net (both its layers) and nothing else."""
        if isinstance(net, RecurrentNet):
            return None
        return f"rule '{self.name}' trains recurrent nets (task kind sequence) only"

    def check_network(self, net) -> str | None:
        return None  # every recurrent activation (tanh, sigmoid, relu) has a derivative

    def feedback_matrix(self, net: RecurrentNet, params: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """A fixed random B (C×H, uniform ±1/√H) drawn from ``rng``, or None: the readout's own V is used."""
        if self.feedback_kind() != "random":
            return None
        limit = 1.0 / np.sqrt(net.hidden)
        return rng.uniform(-limit, limit, net.classes * net.hidden)


def feedback_for(rule: SequenceRule, net: RecurrentNet, params: np.ndarray, fixed: np.ndarray | None) -> np.ndarray:
    """The B the compiled gradient reads: the current V (transpose: a view, so it follows V) or the fixed one."""
    if fixed is not None:
        return fixed
    return params[int(R.offsets(net.dims)[2]):int(R.offsets(net.dims)[3])]


def sequence_gradient(rule: SequenceRule, net: RecurrentNet, params: np.ndarray, x: np.ndarray, y: np.ndarray,
                      m: np.ndarray, fixed: np.ndarray | None = None, norms: bool = False
                      ) -> tuple[np.ndarray, float, np.ndarray]:
    """(gradient, loss, ‖δ_t‖ per step) of one sequence under ``rule``: what one online update descends."""
    T, H, C, F = net.steps, net.hidden, net.classes, net.features
    grad = np.zeros(net.n_params)
    dh_norms = np.zeros(T if norms else 0)
    p = np.ascontiguousarray(params, dtype=np.float64)
    loss = R.sequence_gradient(p, net.dims, net.netf, rule.mode, np.ascontiguousarray(x, dtype=np.float64),
                               np.ascontiguousarray(y, dtype=np.float64), np.ascontiguousarray(m, dtype=np.float64),
                               np.zeros((T, H)), np.zeros((T + 1, H)), np.zeros((T, C)),
                               feedback_for(rule, net, p, fixed), np.int64(getattr(rule.params, "truncation", 0)),
                               grad, np.zeros(H + F + 1), dh_norms)
    return grad, float(loss), dh_norms


def run_forward(net: RecurrentNet, params: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h (T×H), s (T×H), o (T×C)) of one sequence: the hidden-state trajectory and the outputs."""
    T, H, C = net.steps, net.hidden, net.classes
    h, s, o = np.zeros((T, H)), np.zeros((T + 1, H)), np.zeros((T, C))
    R.forward(np.ascontiguousarray(params, dtype=np.float64), net.dims, net.netf,
              np.ascontiguousarray(x, dtype=np.float64), np.ones(T), h, s, o)
    return h, s[1:], o


def evaluate(net: RecurrentNet, params: np.ndarray, X: np.ndarray, Y: np.ndarray, M: np.ndarray) -> tuple[float, float]:
    """(mean loss per sequence, accuracy over the counted steps)."""
    T, H, C = net.steps, net.hidden, net.classes
    loss, acc = R.evaluate(np.ascontiguousarray(params, dtype=np.float64), net.dims, net.netf, X, Y, M,
                           np.zeros((T, H)), np.zeros((T + 1, H)), np.zeros((T, C)))
    return float(loss), float(acc)


@dataclass
class RunResult:
    params: np.ndarray
    metrics: np.ndarray  # (epochs run + 1) × rulelab.tasks.recurrent.METRIC_COLUMNS
    epochs_run: int
    diverged: bool
    interrupted: bool = False


CHUNK_SECONDS = DEFAULT_CHUNK_SECONDS  # a run is called in chunks of about this much training (tests shorten it)


def train(rule: SequenceRule, net: RecurrentNet, params: np.ndarray, train_set: tuple, test_set: tuple,
          epochs: int, batch: int, rng_state: np.random.Generator, shuffle_rng: np.random.Generator,
          shuffle: bool = True, max_samples: int = 0, stop: tuple[float, float, float] | None = None,
          measure: bool = True, progress: Callable[[int], None] | None = None,
          interrupted: Callable[[], bool] | None = None) -> RunResult:
    """A whole run of a sequence rule in compiled code (rulelab.tasks.recurrent.train_run), called in chunks of
    epochs of about CHUNK_SECONDS each — the same numbers as one call.  ``progress(epochs)`` hears of each
    chunk; when ``interrupted()`` says so after a chunk, the run stops there (``RunResult.interrupted``)."""
    p = np.ascontiguousarray(params, dtype=np.float64).copy()
    fixed = rule.feedback_matrix(net, p, rng_state)
    opt_state = np.zeros(1 + 2 * p.size)
    metrics = np.full((epochs + 1, R.METRIC_COLUMNS), np.nan)
    stop_arr = np.array(stop if stop is not None else (np.nan, np.nan, np.nan), dtype=np.float64)
    run = np.zeros(3)
    X, Y, M = train_set
    EX, EY, EM = test_set
    feedback, hp = feedback_for(rule, net, p, fixed), rule.params.pack()
    done, chunk, stopped_by_user = 0, 1, False
    while True:
        last = min(epochs, done + chunk)
        started, before = time.perf_counter(), done
        done = int(R.train_run(p, net.dims, net.netf, np.int64(rule.mode), hp, feedback, opt_state, X, Y, M, EX, EY,
                               EM, shuffle_rng, np.int64(done), np.int64(last), np.int64(batch), bool(shuffle),
                               np.int64(max_samples), stop_arr, metrics, bool(measure), run))
        if progress is not None:
            progress(done - before)
        if run[R.R_STATUS] != R.RUNNING or done >= epochs:
            break
        if interrupted is not None and interrupted():
            stopped_by_user = True
            break
        chunk = next_chunk((time.perf_counter() - started) / max(done - before, 1), CHUNK_SECONDS)
    return RunResult(p, metrics[:done + 1], done, bool(run[R.R_STATUS] == R.DIVERGED), stopped_by_user)

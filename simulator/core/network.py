"""Network structure on the Python side: layout tables and seeded initialisation.

The compiled side only ever sees ``params`` (a flat vector), ``layout`` (an
int64 table, see :mod:`rulelab.core.kernels`) and ``act_args`` (one float per
layer).  This module builds those three from a declarative description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from rulelab.core import kernels as K
from rulelab.core.activations import code_of
from rulelab.core.layout import dense_layout


@dataclass(frozen=True)
class Network:
    """A dense feed-forward network: sizes, activations and the arrays that describe it."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    leaky_slope: float = 0.01
    dtype: str = "float64"
    tied: bool = False
    layout: np.ndarray = field(init=False, repr=False, compare=False)
    act_args: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.sizes) < 2:
            raise ValueError("a network needs at least an input and an output size")
        if len(self.activations) != len(self.sizes) - 1:
            raise ValueError("one activation per layer (len(sizes) - 1) is required")
        object.__setattr__(self, "layout", build_layout(self.sizes, self.activations, self.tied))
        slopes = [self.leaky_slope if a == "leaky_relu" else 0.0 for a in self.activations]
        object.__setattr__(self, "act_args", np.asarray(slopes, dtype=np.float64))

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        last = self.layout[-1]
        return int(last[K.B_OFF] + last[K.N_OUT])

    @property
    def n_units(self) -> int:
        return int(sum(self.sizes[1:]))

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def output_activation(self) -> str:
        return self.activations[-1]

    def weights(self, params: np.ndarray, layer: int) -> np.ndarray:
        """View of one layer's weight matrix (n_out, n_in)."""
        row = self.layout[layer]
        n = int(row[K.N_OUT] * row[K.N_IN])
        return params[row[K.W_OFF]:row[K.W_OFF] + n].reshape(int(row[K.N_OUT]), int(row[K.N_IN]))

    def bias(self, params: np.ndarray, layer: int) -> np.ndarray:
        """View of one layer's bias vector (n_out,)."""
        row = self.layout[layer]
        return params[row[K.B_OFF]:row[K.B_OFF] + row[K.N_OUT]]


def tie_problem(sizes: Sequence[int]) -> str | None:
    """Why a net with these sizes cannot tie decoder to encoder weights, or None."""
    n_layers = len(sizes) - 1
    if n_layers % 2 or list(sizes) != list(reversed(sizes)):
        return f"tied weights need a mirror-image net such as [64, 16, 64]; got {list(sizes)}"
    return None


def build_layout(sizes: Sequence[int], activations: Sequence[str], tied: bool = False) -> np.ndarray:
    """Layout table for consecutive dense layers (an unknown activation name is an error).

    With ``tied``, decoder layer l (second half) is tied to encoder layer L−1−l.
    """
    return dense_layout(list(sizes), [code_of(name) for name in activations], tied)


INIT_SCHEMES = ("zeros", "uniform", "normal", "glorot", "he", "given")


def init_params(
    net: Network,
    rng: np.random.Generator,
    scheme: str = "glorot",
    scale: float = 0.5,
    sigma: float = 0.1,
    bias_init: str = "zeros",
    given: Sequence[dict] | None = None,
) -> np.ndarray:
    """Initial parameter vector drawn from ``rng``.

    Schemes: ``zeros``; ``uniform`` on [−scale, scale]; ``normal`` with std
    ``sigma``; ``glorot`` (uniform ±√(6/(n_in+n_out))); ``he`` (normal with std
    √(2/n_in)); ``given`` (explicit per-layer ``weights`` and ``bias``).
    Biases are zero unless ``bias_init='same'`` (drawn like the weights).
    Layers are drawn in order from one generator, so a seed fixes every value.
    """
    params = np.zeros(net.n_params, dtype=np.float64)
    for layer in range(net.n_layers):
        w = net.weights(params, layer)
        b = net.bias(params, layer)
        if scheme == "given":
            spec = given[layer]
            w[:] = np.asarray(spec["weights"], dtype=np.float64).reshape(w.shape)
            b[:] = np.asarray(spec.get("bias", np.zeros(b.shape)), dtype=np.float64).reshape(b.shape)
            continue
        w[:] = _draw(rng, scheme, w.shape, scale, sigma)
        if bias_init == "same":
            b[:] = _draw(rng, scheme, b.shape, scale, sigma, fan=w.shape)
    for layer in range(net.n_layers):
        tie = int(net.layout[layer, K.TIE])
        if tie >= 0:
            net.weights(params, layer)[:] = net.weights(params, tie).T
    return params.astype(net.np_dtype)


def _draw(
    rng: np.random.Generator,
    scheme: str,
    shape: tuple[int, ...],
    scale: float,
    sigma: float,
    fan: tuple[int, ...] | None = None,
) -> np.ndarray:
    n_out, n_in = fan if fan is not None else shape
    if scheme == "zeros":
        return np.zeros(shape)
    if scheme == "uniform":
        return rng.uniform(-scale, scale, size=shape)
    if scheme == "normal":
        return rng.normal(0.0, sigma, size=shape)
    if scheme == "glorot":
        limit = np.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-limit, limit, size=shape)
    if scheme == "he":
        return rng.normal(0.0, np.sqrt(2.0 / n_in), size=shape)
    raise ValueError(f"unknown initialisation scheme {scheme!r}; expected one of {INIT_SCHEMES}")


def target_range(output_activation: str) -> tuple[float, float]:
    """The (off, on) target values an output activation can reach: ±1 for sign/tanh, else 0/1."""
    if output_activation in ("sign", "tanh"):
        return -1.0, 1.0
    return 0.0, 1.0


def encode_targets(labels: np.ndarray, n_out: int, output_activation: str) -> np.ndarray:
    """Class labels → target matrix: one unit per class, or one unit for two classes."""
    off, on = target_range(output_activation)
    targets = np.full((labels.shape[0], n_out), off, dtype=np.float64)
    if n_out == 1:
        targets[labels == 1, 0] = on
    else:
        targets[np.arange(labels.shape[0]), labels] = on
    return targets

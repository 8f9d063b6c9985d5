"""Network structure on the Python side: layer specs, shapes, layout tables and seeded initialisation.

The compiled side only ever sees ``params`` (a flat vector), ``layout`` (an
int64 table, see :mod:`rulelab.core.layout`) and ``act_args`` (one float per
layer).  This module builds those three from a declarative description: a list of
:class:`LayerSpec` (dense layers by default) on an input of a given shape.

Shapes are (n,) for a flat vector, (C, L) for a 1-D signal with C channels and
(C, H, W) for an image; inside, every shape is (C, H, W) (a signal has H = 1, a
vector is (n, 1, 1)), flat and channel-major.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from rulelab.core import kernels as K
from rulelab.core.activations import AT_ZERO, code_of
from rulelab.core.layout import (AVG_POOL, C_IN, C_OUT, CONV, DENSE, DROPOUT, FLATTEN, H_IN, H_OUT, KH, KW,
                                 L2_POOL, LAST_STEP, LAYOUT_COLUMNS, LOCAL, MAX_POOL, PH, PW, RECURRENT, SH, SW, W_IN,
                                 W_OUT, dense_layout)

# The layer kinds a scenario can declare, and what each one is in the layout table.
LAYER_KINDS = ("dense", "conv1d", "conv2d", "local1d", "local2d", "pool1d", "pool2d", "flatten", "dropout",
               "recurrent", "last_step")
WEIGHTED_KINDS = ("dense", "conv1d", "conv2d", "local1d", "local2d", "recurrent")
POOL_OPS = {"max": MAX_POOL, "average": AVG_POOL, "l2": L2_POOL}
Padding = str | tuple[int, int]


@dataclass(frozen=True)
class LayerSpec:
    """One layer as declared: its kind and what that kind needs.

    ``units`` is a dense layer's output size or a conv/locally connected layer's output
    channels; ``kernel`` the (height, width) of a kernel or pooling window (1-D kinds:
    (1, k)); ``stride`` likewise (pooling: None means the window size); ``padding`` is
    ``valid`` (none), ``same`` (output size ⌈input / stride⌉, split evenly, the extra one
    after) or explicit zeros before and after each axis; ``op`` the pooling (max, average,
    l2); ``rate`` a dropout layer's drop probability; ``activation`` None for the
    network's default.
    """

    kind: str = "dense"
    units: int = 0
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] | None = (1, 1)
    padding: Padding = "valid"
    op: str = "max"
    rate: float = 0.0
    activation: str | None = None

    @property
    def weighted(self) -> bool:
        return self.kind in WEIGHTED_KINDS

    @property
    def dimensions(self) -> int:
        """1 or 2 for the kinds tied to a number of spatial axes, 0 for the others."""
        return 1 if self.kind.endswith("1d") else 2 if self.kind.endswith("2d") else 0

    def describe(self) -> str:
        """A few words for tables and messages, e.g. ``conv2d 8 × 3×3, stride 1, same``."""
        def size(pair: tuple[int, int]) -> str:
            return str(pair[1]) if self.dimensions == 1 else f"{pair[0]}×{pair[1]}"

        if self.kind in ("dense", "recurrent"):
            return f"{self.kind} {self.units}"
        if self.kind in ("flatten", "last_step"):
            return self.kind
        if self.kind == "dropout":
            return f"dropout {self.rate:g}"
        pad = self.padding if isinstance(self.padding, str) else f"padding {size(self.padding)}"
        stride = self.stride or self.kernel
        if self.kind.startswith("pool"):
            return f"{self.kind} {self.op} {size(self.kernel)}, stride {size(stride)}, {pad}"
        return f"{self.kind} {self.units} × {size(self.kernel)}, stride {size(stride)}, {pad}"


def as_chw(shape: Sequence[int]) -> tuple[int, int, int]:
    """(n,) → (n, 1, 1), (C, L) → (C, 1, L), (C, H, W) unchanged."""
    shape = tuple(int(v) for v in shape)
    if len(shape) == 1:
        return shape[0], 1, 1
    if len(shape) == 2:
        return shape[0], 1, shape[1]
    return shape  # type: ignore[return-value]


def _axis(n_in: int, kernel: int, stride: int, padding: Padding, axis: int, what: str) -> tuple[int, int]:
    """(output size, zero padding before the first input) along one axis."""
    if padding == "same":
        out = -(-n_in // stride)
        return out, max((out - 1) * stride + kernel - n_in, 0) // 2
    before = 0 if padding == "valid" else padding[axis]
    span = n_in + 2 * before - kernel
    if span < 0:
        raise ValueError(f"{what} of {kernel} does not fit an input of {n_in} (padding {before}); "
                         "use a smaller kernel or padding: same")
    return span // stride + 1, before


def output_shape(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(this layer's output shape, its geometry row C_IN … PW) for an input of ``shape``; ValueError if it
    does not fit (a 2-D kind on a signal, a kernel larger than the input, …)."""
    c, h, w = as_chw(shape)
    if spec.kind in ("dense", "flatten"):
        n = spec.units if spec.kind == "dense" else c * h * w
        return (n,), (0,) * 12
    if spec.kind == "dropout":
        return tuple(shape), (0,) * 12
    if spec.kind in ("recurrent", "last_step"):
        if len(shape) != 2:
            raise ValueError(f"{spec.kind} needs a signal of shape (features, steps); it gets {tuple(shape)}"
                             + ("; give a flat input of n values as [1, n] (network.layers[0])" if len(shape) == 1
                                else "; read an image a column per step: network.layers[0] = [channels × rows, "
                                     "columns]"))
        if spec.kind == "last_step":
            return (c,), (c, 1, w, c, 1, 1, 1, 1, 1, 1, 0, 0)
        return (spec.units, w), (c, 1, w, spec.units, 1, w, 1, 1, 1, 1, 0, 0)
    want = spec.dimensions
    if len(shape) != want + 1:
        described = {1: "(channels, length)", 2: "(channels, height, width)"}[want]
        raise ValueError(f"{spec.kind} needs an input of shape {described}; it gets {tuple(shape)}"
                         + ("; for images use the 2d kind" if len(shape) == 3 else "")
                         + ("; for signals use the 1d kind" if len(shape) == 2 and want == 2 else ""))
    pooling = spec.kind.startswith("pool")
    kh, kw = spec.kernel
    sh, sw = spec.stride or spec.kernel
    what = "a pooling window" if pooling else "a kernel"
    h_out, ph = _axis(h, kh, sh, spec.padding, 0, what)
    w_out, pw = _axis(w, kw, sw, spec.padding, 1, what)
    if pooling and (ph >= kh or pw >= kw):
        raise ValueError(f"padding must be smaller than the pooling window ({kh}×{kw}); got ({ph}, {pw})")
    c_out = c if pooling else spec.units
    out = (c_out, w_out) if want == 1 else (c_out, h_out, w_out)
    return out, (c, h, w, c_out, h_out, w_out, kh, kw, sh, sw, ph, pw)


class LayerShapeError(ValueError):
    """A layer does not fit the shape it receives; ``layer`` is its index (0: the first after the input)."""

    def __init__(self, layer: int, spec: LayerSpec, reason: str):
        super().__init__(f"layer {layer} ({spec.describe()}): {reason}")
        self.layer, self.reason = layer, reason


def layer_shapes(input_shape: Sequence[int], specs: Sequence[LayerSpec]) -> list[tuple[int, ...]]:
    """Each layer's output shape; :class:`LayerShapeError` naming the first layer that does not fit."""
    shapes = []
    shape = tuple(input_shape)
    for index, spec in enumerate(specs):
        try:
            shape, _ = output_shape(spec, shape)
        except ValueError as exc:
            raise LayerShapeError(index, spec, str(exc)) from None
        shapes.append(shape)
    if specs and specs[-1].kind == "recurrent":
        raise LayerShapeError(len(specs) - 1, specs[-1], "a recurrent layer gives every step's state; read it out "
                                                         "with layers after it (last_step, then dense)")
    return shapes


def layer_kind_code(spec: LayerSpec) -> int:
    if spec.kind == "dense":
        return DENSE
    if spec.kind.startswith("conv"):
        return CONV
    if spec.kind.startswith("local"):
        return LOCAL
    if spec.kind.startswith("pool"):
        return POOL_OPS[spec.op]
    return {"flatten": FLATTEN, "dropout": DROPOUT, "recurrent": RECURRENT, "last_step": LAST_STEP}[spec.kind]


def n_layer_params(spec: LayerSpec, geometry: tuple[int, ...], n_in: int, n_out: int) -> tuple[int, int]:
    """(weights, biases) of one layer."""
    if spec.kind == "dense":
        return n_in * n_out, n_out
    c, _, _, c_out, _, _, kh, kw = geometry[:8]
    if spec.kind == "recurrent":
        return c_out * (c_out + c), c_out  # [W_j | U_j] per unit
    if spec.kind.startswith("conv"):
        return c_out * c * kh * kw, c_out
    if spec.kind.startswith("local"):
        return n_out * c * kh * kw, n_out
    return 0, 0


def layers_layout(input_shape: Sequence[int], specs: Sequence[LayerSpec], codes: Sequence[int]) -> np.ndarray:
    """Layout table for a list of layer specs (each layer's weights, then its biases)."""
    layout = np.zeros((len(specs), LAYOUT_COLUMNS), dtype=np.int64)
    offset = a_offset = 0
    shape = tuple(input_shape)
    for layer, spec in enumerate(specs):
        n_in = math.prod(shape)
        shape, geometry = output_shape(spec, shape)
        n_out = math.prod(shape)
        n_w, n_b = n_layer_params(spec, geometry, n_in, n_out)
        layout[layer, K.W_OFF] = offset
        layout[layer, K.B_OFF] = offset + n_w
        layout[layer, K.N_IN] = n_in
        layout[layer, K.N_OUT] = n_out
        layout[layer, K.ACT] = codes[layer]
        layout[layer, K.A_OFF] = a_offset
        layout[layer, K.TIE] = -1
        layout[layer, K.KIND] = layer_kind_code(spec)
        layout[layer, C_IN:C_IN + 12] = geometry
        offset += n_w + n_b
        a_offset += n_out
    return layout


@dataclass(frozen=True)
class Network:
    """A feed-forward network: flat sizes, activations, layer specs and the arrays that describe it.

    ``sizes`` are flat: the input size, then each layer's output size.  Without
    ``specs`` every layer is dense; with them, ``input_shape`` is the shape of one sample
    (flat, (C, L) or (C, H, W)) — build such a net with :meth:`from_layers`.
    """

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    leaky_slope: float = 0.01
    dtype: str = "float64"
    tied: bool = False
    specs: tuple[LayerSpec, ...] | None = None
    input_shape: tuple[int, ...] | None = None
    # (activation, value at z = 0) for step and sign: their tie convention (activations.AT_ZERO)
    at_zero: tuple[tuple[str, float], ...] = tuple(AT_ZERO.items())
    layout: np.ndarray = field(init=False, repr=False, compare=False)
    act_args: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.sizes) < 2:
            raise ValueError("a network needs at least an input and an output size")
        if len(self.activations) != len(self.sizes) - 1:
            raise ValueError("one activation per layer (len(sizes) - 1) is required")
        if self.specs is None:
            object.__setattr__(self, "specs", tuple(LayerSpec("dense", n) for n in self.sizes[1:]))
            object.__setattr__(self, "input_shape", (self.sizes[0],))
            layout = build_layout(self.sizes, self.activations, self.tied)
        else:
            if self.tied and not all(spec.kind == "dense" for spec in self.specs):
                raise ValueError("tied weights need dense layers only")
            if math.prod(self.input_shape) != self.sizes[0]:
                raise ValueError(f"input shape {self.input_shape} does not hold {self.sizes[0]} values")
            layout = layers_layout(self.input_shape, self.specs, [code_of(a) for a in self.activations])
            if tuple(int(n) for n in layout[:, K.N_OUT]) != tuple(self.sizes[1:]):
                raise ValueError("sizes do not match the layers' output shapes; build the net with from_layers")
        object.__setattr__(self, "layout", layout)
        at_zero = dict(self.at_zero)
        args = [self.leaky_slope if a == "leaky_relu" else at_zero.get(a, 0.0) for a in self.activations]
        for layer, spec in enumerate(self.specs):
            if spec.kind == "dropout":
                args[layer] = spec.rate  # a dropout layer's one parameter rides in act_args
        object.__setattr__(self, "act_args", np.asarray(args, dtype=np.float64))

    @classmethod
    def from_layers(cls, input_shape: Sequence[int], specs: Sequence[LayerSpec], activations: Sequence[str],
                    leaky_slope: float = 0.01, dtype: str = "float64",
                    at_zero: tuple[tuple[str, float], ...] = tuple(AT_ZERO.items())) -> "Network":
        """A network of any layer kinds on inputs of ``input_shape``; ValueError (naming the layer) if a shape
        does not fit.  Layers without an activation of their own (pooling, flatten, dropout) take 'linear'."""
        shapes = layer_shapes(input_shape, specs)
        sizes = (math.prod(input_shape),) + tuple(math.prod(s) for s in shapes)
        return cls(sizes, tuple(activations), leaky_slope, dtype, False, tuple(specs), tuple(input_shape), at_zero)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        return int(K.n_params(self.layout))

    @property
    def n_units(self) -> int:
        return int(sum(self.sizes[1:]))

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def output_activation(self) -> str:
        return self.activations[-1]

    @property
    def dense_only(self) -> bool:
        return all(spec.kind == "dense" for spec in self.specs)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(spec.kind for spec in self.specs)

    def shapes(self) -> list[tuple[int, ...]]:
        """Each layer's output shape: (n,), (C, L) or (C, H, W)."""
        return layer_shapes(self.input_shape, self.specs)

    def layer_params(self, layer: int) -> int:
        """Parameters of one layer (weights and biases)."""
        row = self.layout[layer]
        return int(row[K.B_OFF] - row[K.W_OFF] + K.n_biases(self.layout, layer))

    def summary(self) -> list[tuple[str, str, int]]:
        """(layer, output shape, parameters) for the input and every layer: what ``rulelab validate`` prints."""
        def shape(s: tuple[int, ...]) -> str:
            return "×".join(str(v) for v in s)

        rows = [("input", shape(self.input_shape), 0)]
        for layer, (spec, out) in enumerate(zip(self.specs, self.shapes())):
            act = self.activations[layer]
            words = spec.describe() + (f", {act}" if act != "linear" or spec.weighted else "")
            rows.append((words, shape(out), self.layer_params(layer)))
        return rows

    def describe_layer(self, layer: int) -> str:
        """'layer 0 (conv2d 8 × 3×3, stride 1, same)': how messages name a layer (0: the first after the input)."""
        return f"layer {layer} ({self.specs[layer].describe()})"

    def weights(self, params: np.ndarray, layer: int) -> np.ndarray:
        """View of one layer's weights as rows: (n_out, n_in) dense, (C_out, C_in·KH·KW) conv,
        (n_out, C_in·KH·KW) locally connected, empty for a layer without weights."""
        row = self.layout[layer]
        if row[K.KIND] == DENSE:
            n = int(row[K.N_OUT] * row[K.N_IN])
            return params[row[K.W_OFF]:row[K.W_OFF] + n].reshape(int(row[K.N_OUT]), int(row[K.N_IN]))
        k = int(K.kernel_size(self.layout, layer))
        count = int(row[K.B_OFF] - row[K.W_OFF])
        return params[row[K.W_OFF]:row[K.B_OFF]].reshape(count // k if k else 0, k if count else 0)

    def weight_shape(self, layer: int) -> tuple[int, int]:
        """(rows, columns) of :meth:`weights`: one row per unit (a dense layer's outputs, a conv layer's kernels)."""
        row = self.layout[layer]
        if row[K.KIND] == DENSE:
            return int(row[K.N_OUT]), int(row[K.N_IN])
        k = int(K.kernel_size(self.layout, layer))
        count = int(row[K.B_OFF] - row[K.W_OFF])
        return (count // k, k) if k and count else (0, 0)

    def kernels(self, params: np.ndarray, layer: int) -> np.ndarray:
        """A conv layer's kernels (C_out, C_in, KH, KW); a locally connected layer's (C_out, H_out, W_out, C_in, KH, KW)."""
        row = self.layout[layer]
        shape = (int(row[C_OUT]), int(row[C_IN]), int(row[KH]), int(row[KW]))
        if row[K.KIND] == LOCAL:
            shape = shape[:1] + (int(row[H_OUT]), int(row[W_OUT])) + shape[1:]
        return params[row[K.W_OFF]:row[K.B_OFF]].reshape(shape)

    def bias(self, params: np.ndarray, layer: int) -> np.ndarray:
        """View of one layer's bias vector (one per output unit; per channel for conv; empty without)."""
        row = self.layout[layer]
        return params[row[K.B_OFF]:row[K.B_OFF] + K.n_biases(self.layout, layer)]

    def fans(self, layer: int) -> tuple[int, int]:
        """(fan_out, fan_in) of a layer's weights, for initialisation: a conv kernel's fan_in is C_in·KH·KW."""
        row = self.layout[layer]
        if row[K.KIND] == DENSE:
            return int(row[K.N_OUT]), int(row[K.N_IN])
        if row[K.KIND] == RECURRENT:  # a unit sees the previous state and the step's input: H + F in, H out
            return int(row[C_OUT]), int(row[C_OUT] + row[C_IN])
        window = int(row[KH] * row[KW])
        return int(row[C_OUT]) * window, int(row[C_IN]) * window


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


INIT_SCHEMES = ("zeros", "uniform", "normal", "glorot", "he", "pytorch", "given")


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
    √(2/n_in)); ``pytorch`` (uniform ±1/√n_in, PyTorch's default for its Linear and
    Conv layers — biases too with ``bias_init='same'``); ``given`` (explicit per-layer
    ``weights`` and ``bias``).
    Biases are zero unless ``bias_init='same'`` (drawn like the weights).
    Layers are drawn in order from one generator, so a seed fixes every value.  The fans
    of a conv kernel are C_in·KH·KW (in) and C_out·KH·KW (out), as in other libraries;
    ``given`` takes one entry per layer with weights.
    """
    params = np.zeros(net.n_params, dtype=np.float64)
    weighted = [layer for layer in range(net.n_layers) if net.specs[layer].weighted]
    for index, layer in enumerate(weighted):
        w = net.weights(params, layer)
        b = net.bias(params, layer)
        if scheme == "given":  # one entry per layer with weights
            spec = given[index]
            w[:] = np.asarray(spec["weights"], dtype=np.float64).reshape(w.shape)
            b[:] = np.asarray(spec.get("bias", np.zeros(b.shape)), dtype=np.float64).reshape(b.shape)
            continue
        fans = None if net.specs[layer].kind == "dense" else net.fans(layer)
        w[:] = _draw(rng, scheme, w.shape, scale, sigma, fan=fans)
        if bias_init == "same":
            b[:] = _draw(rng, scheme, b.shape, scale, sigma, fan=fans or w.shape)
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
    if scheme == "pytorch":  # torch.nn.Linear and ConvNd's default (kaiming_uniform with a = √5)
        limit = 1.0 / np.sqrt(n_in)
        return rng.uniform(-limit, limit, size=shape)
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

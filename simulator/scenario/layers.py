"""``network.layers`` beyond plain sizes: the input's shape and layer mappings, with key-path messages.

    layers: [[1, 8, 8],                                          # the input: a size, or a shape
             {kind: conv2d, channels: 8, kernel: 3, padding: same},
             {kind: pool2d, size: 2},                            # op: max (default), average or l2
             {kind: flatten},
             {kind: dropout, rate: 0.25},
             10]                                                 # an integer is a dense layer

The input entry is a size (the dataset's own sample shape is used when it holds that
many values) or a shape: [C, L] for signals, [C, H, W] for images.  Each mapping is
validated against its kind's model below, so a mistake is reported at its key path,
e.g. ``network.layers[1].kernel``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from rulelab.core.network import LAYER_KINDS, LayerSpec
from rulelab.scenario.errors import did_you_mean, pydantic_problems, show
from rulelab.scenario.keypaths import parse_key_path
from rulelab.scenario.schema import STRICT

ActivationName = Literal["linear", "step", "sign", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
Pair = int | list[int]


class _Layer(BaseModel):
    model_config = STRICT


class DenseLayer(_Layer):
    kind: Literal["dense"]
    units: int = Field(ge=1, description="output units")
    activation: ActivationName | None = Field(None, description="default: the network's activation")


class ConvLayer(_Layer):
    """conv1d / conv2d (kernels shared over positions) and local1d / local2d (a kernel per position)."""

    kind: Literal["conv1d", "conv2d", "local1d", "local2d"]
    channels: int = Field(ge=1, description="output channels (filters)")
    kernel: Pair = Field(description="kernel size: k, or [height, width] (2-D kinds)")
    stride: Pair = Field(1, description="step between positions: s, or [rows, columns]")
    padding: Literal["valid", "same"] | Pair = Field(
        "valid", description="valid (none), same (output ⌈input / stride⌉) or zeros on each side: p or [rows, columns]")
    activation: ActivationName | None = Field(None, description="default: the network's activation")


class PoolLayer(_Layer):
    kind: Literal["pool1d", "pool2d"]
    size: Pair = Field(2, description="window: k, or [height, width] (pool2d)")
    stride: Pair | None = Field(None, description="step between windows (default: the window size)")
    padding: Literal["valid", "same"] | Pair = Field("valid", description="valid, same, or p (< the window)")
    op: Literal["max", "average", "l2"] = Field("max", description="max, average or L2 norm over each window")
    activation: ActivationName | None = Field(None, description="default: linear")


class FlattenLayer(_Layer):
    kind: Literal["flatten"]


class DropoutLayer(_Layer):
    kind: Literal["dropout"]
    rate: float = Field(0.5, ge=0, lt=1, description="probability that a unit is dropped while training")


class RecurrentLayer(_Layer):
    """An Elman layer over a signal (features, steps): every step's state, (units, steps)."""

    kind: Literal["recurrent"]
    units: int = Field(ge=1, description="hidden units H")
    activation: ActivationName | None = Field(None, description="default: the network's activation")


class LastStepLayer(_Layer):
    """A signal's last position, (channels, steps) → channels: a recurrent layer's last state."""

    kind: Literal["last_step"]


LAYER_MODELS: dict[str, type[_Layer]] = {
    "dense": DenseLayer, "conv1d": ConvLayer, "conv2d": ConvLayer, "local1d": ConvLayer, "local2d": ConvLayer,
    "pool1d": PoolLayer, "pool2d": PoolLayer, "flatten": FlattenLayer, "dropout": DropoutLayer,
    "recurrent": RecurrentLayer, "last_step": LastStepLayer,
}
assert set(LAYER_MODELS) == set(LAYER_KINDS)


def _pair(value: int | list[int], dims: int, where: str, problems: list[tuple[str, str]],
          least: int = 1) -> tuple[int, int] | None:
    """(rows, columns) of a size given as one number or a list: 1-D kinds have one row."""
    values = [value] if isinstance(value, int) else list(value)
    if len(values) not in ((1, 2) if dims == 2 else (1,)) or any(v < least for v in values):
        expected = "k or [rows, columns]" if dims == 2 else "one number"
        problems.append((where, f"got {show(value)}; expected {expected}, each ≥ {least}"))
        return None
    if dims == 1:
        return 1, values[0]
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _padding(value: Any, dims: int, where: str, problems: list[tuple[str, str]]) -> str | tuple[int, int] | None:
    if isinstance(value, str):
        return value
    pair = _pair(value, dims, where, problems, least=0)
    if pair is None:
        return None
    return (0, pair[1]) if dims == 1 else pair


def layer_spec(item: Any, where: str, problems: list[tuple[str, str]]) -> LayerSpec | None:
    """One entry of ``network.layers`` after the input: an integer (dense) or a mapping with a ``kind``."""
    if isinstance(item, bool):
        problems.append((where, f"got {show(item)}; expected a number, not a boolean"))
        return None
    if not isinstance(item, (int, dict)):
        problems.append((where, f"got {show(item)}; expected a layer size (a whole number) or a mapping "
                                "such as {kind: conv2d, channels: 8, kernel: 3}"))
        return None
    if isinstance(item, int):
        if item < 1:
            problems.append((where, f"got {item}; expected a layer size ≥ 1"))
            return None
        return LayerSpec("dense", item)
    kind = item.get("kind")
    if kind not in LAYER_MODELS:
        known = ", ".join(LAYER_MODELS)
        if kind is None:
            problems.append((f"{where}.kind", f"missing; give the layer's kind ({known})"))
        else:
            problems.append((f"{where}.kind", f"unknown layer kind {show(kind)}"
                                              f"{did_you_mean(kind, list(LAYER_MODELS))} (expected one of {known})"))
        return None
    model = LAYER_MODELS[kind]
    try:
        cfg = model.model_validate(item)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, tuple(parse_key_path(where)), model, given=item))
        return None
    dims = 1 if kind.endswith("1d") else 2
    if isinstance(cfg, DenseLayer):
        return LayerSpec("dense", cfg.units, activation=cfg.activation)
    if isinstance(cfg, FlattenLayer):
        return LayerSpec("flatten")
    if isinstance(cfg, DropoutLayer):
        return LayerSpec("dropout", rate=cfg.rate)
    if isinstance(cfg, RecurrentLayer):
        return LayerSpec("recurrent", cfg.units, activation=cfg.activation)
    if isinstance(cfg, LastStepLayer):
        return LayerSpec("last_step")
    before = len(problems)
    if isinstance(cfg, ConvLayer):
        kernel = _pair(cfg.kernel, dims, f"{where}.kernel", problems)
        stride = _pair(cfg.stride, dims, f"{where}.stride", problems)
        padding = _padding(cfg.padding, dims, f"{where}.padding", problems)
        if len(problems) > before:
            return None
        return LayerSpec(kind, cfg.channels, kernel, stride, padding, activation=cfg.activation)
    window = _pair(cfg.size, dims, f"{where}.size", problems)
    stride = None if cfg.stride is None else _pair(cfg.stride, dims, f"{where}.stride", problems)
    padding = _padding(cfg.padding, dims, f"{where}.padding", problems)
    if len(problems) > before:
        return None
    return LayerSpec(kind, 0, window, stride, padding, cfg.op, activation=cfg.activation)


def input_shape(first: Any, where: str, sample_shape: tuple[int, ...] | None, n_features: int,
                problems: list[tuple[str, str]]) -> tuple[int, ...] | None:
    """The shape of one sample: from a shape given ([C, L] or [C, H, W]), or from a size (the dataset's
    sample shape when it holds that many values, else a flat vector)."""
    if isinstance(first, list):
        if not 1 <= len(first) <= 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                              for v in first):
            problems.append((where, f"got {show(first)}; expected an input size or a shape [channels, length] or "
                                    "[channels, height, width] of whole numbers ≥ 1"))
            return None
        shape = tuple(first)
        if math.prod(shape) != n_features:
            problems.append((where, f"got shape {list(shape)} ({math.prod(shape)} values); the dataset has "
                                    f"{n_features} features"))
            return None
        return shape
    if isinstance(first, bool):
        problems.append((where, f"got {show(first)}; expected a number, not a boolean"))
        return None
    if not isinstance(first, int) or first < 1:
        problems.append((where, f"got {show(first)}; expected an input size ≥ 1 or a shape such as [1, 8, 8]"))
        return None
    if first != n_features:
        problems.append((where, f"got {first} inputs; the dataset has {n_features} features"))
        return None
    if sample_shape is not None and math.prod(sample_shape) == first:
        return tuple(sample_shape)
    return (first,)

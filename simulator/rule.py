"""The learning-rule contract.

A rule is a declaration (name, family, needs, hyperparameters, equation) plus
compiled kernels.  An *online* rule — the kind the training engine drives —
supplies one ``@njit`` kernel with this fixed signature::

    update(params, layout, act_args, state, hp, X, Y, lo, hi) -> float

``params``  flat parameter vector (float32 or float64), updated in place
``layout``  int64 layout table (see :mod:`rulelab.core.kernels`)
``act_args`` float64, one activation argument per layer (leaky-ReLU slope)
``state``   the rule's own array (same dtype as params), e.g. scratch buffers,
            momenta, fixed feedback matrices; sized by :meth:`Rule.state_size`
``hp``      float64 hyperparameters, packed in the order they are declared
``X``, ``Y`` the epoch's inputs and targets, in visiting order (rows are
            samples; ``Y`` has zero columns on an unlabelled task)
``lo, hi``  this call's minibatch is rows ``lo … hi−1`` (one row online)

Passing row bounds instead of slices keeps the per-call cost of online
learning (one call per sample) at an indirect call, with no array views to
build.  It returns the rule's own training signal for the batch (mistakes made, sum of
squared errors, ...), which the engine sums per epoch.  The engine owns every
loop over batches and epochs, so a rule never sees a Python call per sample.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args, get_origin

import numpy as np
from numba import types
from pydantic import BaseModel, ConfigDict, Field, field_validator  # noqa: F401  (Field re-exported for rule authors)

from rulelab.core.network import Network

FAMILIES = ("error-correcting", "gradient", "hebbian", "associative", "evolutionary")


@dataclass(frozen=True)
class Needs:
    """What a rule needs from the task and the network."""

    labels: bool = False
    differentiable: bool = False
    weight_transport: bool = False
    fitness_only: bool = False

    def describe(self) -> str:
        parts = []
        if self.labels:
            parts.append("labels")
        if self.differentiable:
            parts.append("differentiable activations")
        if self.weight_transport:
            parts.append("weight transport (Wᵀ)")
        if self.fitness_only:
            parts.append("a fitness only")
        return ", ".join(parts) if parts else "inputs only"


# Kernels receive hyperparameters as float64: integers beyond 2^53 would arrive changed.
MAX_EXACT_INTEGER = 2 ** 53


class HyperParameters(BaseModel):
    """Base class of a rule's hyperparameters: declare fields with defaults and constraints.

    Floats, ints and bools pack as themselves; a ``Literal[...]`` choice packs as
    the index of the chosen value, so kernels receive plain numbers.  Validation is
    strict: a boolean is not a number, ``"0.1"`` is not 0.1, numbers must be finite,
    and integers must be exact in float64 (|n| ≤ 2^53).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True,
                              allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _exact_in_float64(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT_INTEGER:
            from rulelab.scenario.limits import format_count

            raise ValueError(f"got {format_count(value)}; expected at most 2^53 in size (hyperparameters reach "
                             "the kernels as float64)")
        return value

    def pack(self) -> np.ndarray:
        """The values in declaration order, as the float64 vector ``hp`` kernels receive."""
        values = []
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            choices = literal_choices(info.annotation)
            values.append(float(choices.index(value)) if choices else float(value))
        return np.asarray(values, dtype=np.float64)

    @classmethod
    def index(cls, name: str) -> int:
        """Position of hyperparameter ``name`` in the packed vector."""
        return list(cls.model_fields).index(name)

    @classmethod
    def slots(cls) -> Any:
        """Named positions in the packed vector, for kernels: ``P = MyParams.slots()`` at module level,
        then ``hp[P.lr]`` inside the kernel (Numba reads the tuple as constants)."""
        names = list(cls.model_fields)
        return namedtuple(f"{cls.__name__}Slots", names)(*range(len(names)))

    @classmethod
    def code(cls, name: str, value: Any) -> float:
        """What a ``Literal`` choice packs as: ``MyParams.code("optimizer", "adam")`` is the value
        ``hp[P.optimizer]`` holds when the scenario chose adam."""
        choices = literal_choices(cls.model_fields[name].annotation)
        if value not in choices:
            raise ValueError(f"{cls.__name__}.{name}: {value!r} is not one of {choices}")
        return float(choices.index(value))


def literal_choices(annotation: Any) -> tuple[Any, ...]:
    """The allowed values of a ``Literal[...]`` annotation, or () for anything else."""
    return get_args(annotation) if get_origin(annotation) is Literal else ()


class Rule:
    """Base class every learning rule derives from (built-ins and plug-ins alike).

    Subclasses set the class attributes below and, for ``kind = "online"``,
    an ``update`` kernel (wrap it in ``staticmethod``).
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    equation: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    needs: ClassVar[Needs] = Needs()
    local: ClassVar[bool] = True
    kind: ClassVar[str] = "online"
    # Name of the per-epoch training signal the update kernel returns (summed per epoch).
    signal: ClassVar[str] = "train_signal"
    # Whether an epoch with a zero training signal means the rule has converged (perceptron).
    converged_when_signal_zero: ClassVar[bool] = False
    # Whether the rule keeps tied decoder weights (W_l = W_kᵀ) in sync when it updates.
    supports_tied_weights: ClassVar[bool] = False
    # The layer kinds the rule can train (its trained_layers must be of these kinds; layers it only
    # runs forward, as fixed features, may be of any kind).  Scenario names: dense, conv1d, conv2d,
    # local1d, local2d, pool1d, pool2d, flatten, dropout (rulelab.core.network.LAYER_KINDS).
    layer_kinds: ClassVar[tuple[str, ...]] = ("dense",)
    Params: ClassVar[type[HyperParameters]] = HyperParameters
    update: ClassVar[Any] = None

    # Set by the registry: where the rule came from ("built-in", a package, a file).
    source: ClassVar[str] = ""

    def __init__(self, params: HyperParameters | None = None, **values: Any) -> None:
        self.params = params if params is not None else self.Params(**values)

    def trained_layers(self, net: Network) -> tuple[int, ...]:
        """Indices of the layers this rule changes (default: all)."""
        return tuple(range(net.n_layers))

    def kernel(self, net: Network, batch_size: int) -> Any:
        """The update kernel for this network and batch size (default: ``update``).

        Override to hand the engine a specialised kernel for a common case: in online
        learning the kernel runs once per sample, and a kernel with nothing but that
        case in it compiles to much faster code.  It must give the same numbers.
        """
        return self.update

    def kind_problem(self, net: Network) -> str | None:
        """Which trained layer is of a kind this rule cannot train, in words, or None (see ``layer_kinds``).

        Checked before :meth:`check_network` by validation, whatever a rule overrides."""
        for layer in self.trained_layers(net):
            if not 0 <= layer < net.n_layers:
                continue  # a layer that does not exist: check_network says so
            kind = net.specs[layer].kind
            if kind not in self.layer_kinds:
                return (f"rule '{self.name}' cannot train {net.describe_layer(layer)}: it trains "
                        f"{', '.join(self.layer_kinds)} layers only")
        return None

    def network_problem(self, net: Network) -> str | None:
        """Every check of this rule against ``net``: layer kinds first, then :meth:`check_network`."""
        return self.kind_problem(net) or self.check_network(net)

    def check_network(self, net: Network) -> str | None:
        """A problem with using this rule on ``net``, in words, or None.

        The default enforces ``needs.differentiable`` on the trained layers.
        """
        from rulelab.core.kernels import NON_DIFFERENTIABLE

        if self.needs.differentiable:
            for layer in self.trained_layers(net):
                act = net.activations[layer]
                if act in NON_DIFFERENTIABLE:
                    return (
                        f"rule '{self.name}' needs a differentiable activation but layer {layer} "
                        f"uses '{act}'; use linear, sigmoid, tanh, relu or leaky_relu"
                    )
        return None

    def state_size(self, net: Network) -> int:
        """Length of the rule's state array (scratch buffers, momenta, ...)."""
        return 0

    def init_state(self, net: Network, rng: np.random.Generator) -> np.ndarray:
        """Initial state; override to draw fixed random matrices etc. from ``rng``."""
        return np.zeros(self.state_size(net), dtype=net.np_dtype)

    @classmethod
    def describe(cls) -> dict[str, str]:
        """One row of ``rulelab rules``."""
        return {
            "name": cls.name,
            "family": cls.family,
            "needs": cls.needs.describe(),
            "local": "yes" if cls.local else "no",
            "equation": cls.equation,
            "source": cls.source,
        }


def kernel_signature(dtype: str) -> types.Signature:
    """The Numba signature of an online ``update`` kernel for params of ``dtype``."""
    f = types.float32 if dtype == "float32" else types.float64
    vec = types.Array(f, 1, "C")
    mat = types.Array(f, 2, "C")
    return types.float64(
        vec,
        types.Array(types.int64, 2, "C"),
        types.Array(types.float64, 1, "C"),
        vec,
        types.Array(types.float64, 1, "C"),
        mat,
        mat,
        types.int64,
        types.int64,
    )

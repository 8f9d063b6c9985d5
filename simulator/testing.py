"""The contract kit: checks every learning rule must pass, built-in or plug-in.

Use it in a rule's test file::

    from rulelab.testing import check_rule
    from my_rules import MyRule

    def test_my_rule_honours_the_contract():
        check_rule(MyRule)

Each check has a name; a failure raises :class:`RuleCheckError` saying which check
failed and why, in words about the rule rather than about rulelab's internals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from pydantic import ValidationError

from rulelab.core.network import LayerSpec, Network, encode_targets, init_params
from rulelab.rule import FAMILIES, HyperParameters, Rule, literal_choices


class RuleCheckError(AssertionError):
    """A rule broke the contract; the message names the check."""


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    run: Callable[[type[Rule]], None]


def _fail(check: str, message: str) -> None:
    raise RuleCheckError(f"check '{check}' failed: {message}")


# ---------------------------------------------------------------- declaration


def check_declaration(rule: type[Rule]) -> None:
    name = "declaration"
    if not isinstance(rule, type) or not issubclass(rule, Rule):
        _fail(name, f"{rule!r} is not a subclass of rulelab.rule.Rule")
    if not rule.name or not isinstance(rule.name, str):
        _fail(name, "the rule has no name: set the class attribute name = 'my-rule'")
    if rule.family not in FAMILIES:
        _fail(name, f"family {rule.family!r} is not one of {', '.join(FAMILIES)}")
    if not rule.equation:
        _fail(name, "equation is empty: give the update in one line, e.g. 'Δw = η y (x − y w)'")
    if not (isinstance(rule.Params, type) and issubclass(rule.Params, HyperParameters)):
        _fail(name, "Params must be a subclass of rulelab.rule.HyperParameters")
    if rule.kind not in ("online", "population", "associative", "sequence"):
        _fail(name, f"kind {rule.kind!r} is not one of online, population, associative, sequence")
    if rule.kind == "sequence":
        from rulelab.tasks import recurrent as R
        from rulelab.tasks.sequence import SequenceRule

        if not issubclass(rule, SequenceRule) or rule.mode not in (R.BPTT, R.EPROP):
            _fail(name, "a sequence rule derives from rulelab.tasks.sequence.SequenceRule and picks mode "
                        "BPTT or EPROP (rulelab.tasks.recurrent): its compiled gradient")
    if rule.kind == "online":
        if rule.update is None or not hasattr(rule.update, "py_func"):
            _fail(name, "an online rule needs update = staticmethod(kernel) with kernel decorated by @njit")
        if not (rule.update.py_func.__doc__ or "").strip():
            _fail(name, "the update kernel has no docstring: state its equation in one line")


# ---------------------------------------------------------------- hyperparameters


def _violations(info) -> list[object]:
    """Values that break a field's declared constraints (or its type)."""
    bad: list[object] = []
    for meta in info.metadata:
        for attr, delta in (("gt", 0), ("ge", -1), ("lt", 0), ("le", 1)):
            bound = getattr(meta, attr, None)
            if bound is not None:
                bad.append(bound - 1 if attr in ("ge",) else bound if attr in ("gt", "lt") else bound + 1)
    choices = literal_choices(info.annotation)
    if choices:
        bad.append("not-a-choice")
    elif info.annotation in (float, int):
        bad.append("not a number")
    return bad


def check_hyperparameters(rule: type[Rule]) -> None:
    name = "hyperparameters"
    try:
        params = rule.Params()
    except ValidationError as exc:
        _fail(name, f"the defaults do not validate: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}")
    # Kernels receive the packed vector; associative rules store in Python and never pack, so their
    # hyperparameters may be any validated value (hopfield_given's weight matrix).
    if rule.kind != "associative":
        packed = params.pack()
        if packed.shape != (len(rule.Params.model_fields),) or not np.all(np.isfinite(packed)):
            _fail(name, "pack() must give one finite number per hyperparameter")
    for field, info in rule.Params.model_fields.items():
        for value in _violations(info):
            try:
                rule.Params(**{field: value})
            except ValidationError:
                continue
            _fail(name, f"{field} = {value!r} was accepted, but the declared constraints exclude it")
    try:
        rule.Params(**{"no_such_hyperparameter": 1})
    except ValidationError:
        pass
    else:
        _fail(name, "an unknown hyperparameter was accepted: Params must forbid extra keys "
                    "(derive from HyperParameters)")


# ---------------------------------------------------------------- online updates


CANDIDATE_ACTIVATIONS = (("tanh", "sigmoid"), ("linear", "linear"), ("tanh", "step"), ("tanh", "sign"),
                         ("tanh", "softmax"))


def _usable_network(rule: type[Rule], dtype: str) -> Network:
    """The first small 4-3-2 network the rule accepts (its check_network decides)."""
    instance = rule(rule.Params())
    tried = []
    for acts in CANDIDATE_ACTIVATIONS:
        net = Network((4, 3, 2), acts, dtype=dtype)
        if instance.check_network(net) is None:
            return net
        tried.append("-".join(acts))
    _fail("shapes and dtypes", f"check_network refused every small test network ({', '.join(tried)}); "
                               "the kit needs a 4-3-2 net it may train")


def _conv_network(rule: type[Rule], dtype: str) -> Network | None:
    """A small conv net the rule accepts — 1×5×5 images, conv2d 2 × 3×3 (same), max pooling 2, dropout,
    dense 2 — or None when it declares it cannot train it (its layer kinds or check_network say so)."""
    instance = rule(rule.Params())
    specs = (LayerSpec("conv2d", 2, (3, 3), (1, 1), "same"), LayerSpec("pool2d", 0, (2, 2), None),
             LayerSpec("dropout", rate=0.5), LayerSpec("dense", 2))
    for hidden, out in CANDIDATE_ACTIVATIONS:
        net = Network.from_layers((1, 5, 5), specs, (hidden, "linear", "linear", out), dtype=dtype)
        if instance.network_problem(net) is None:
            return net
    return None


def _run_update(rule: type[Rule], net: Network, labelled: bool, seed: int = 0, rows: int = 6, batch: int = 1):
    from rulelab.core.engine import train_epoch

    rng = np.random.default_rng(seed)
    X = np.ascontiguousarray(rng.normal(size=(rows, net.sizes[0])), dtype=net.np_dtype)
    if labelled:
        Y = encode_targets(rng.integers(0, 2, rows), net.sizes[-1], net.output_activation).astype(net.np_dtype)
    else:
        # No targets — but the zero columns sit on a NaN buffer: a kernel that reads targets it
        # declared it does not need poisons its own weights, and the kit sees it.
        Y = np.full((rows, 1), np.nan, dtype=net.np_dtype)[:, :0]
    if Y.shape[1]:
        Y = np.ascontiguousarray(Y)
    params = init_params(net, np.random.default_rng([seed, 1]))
    instance = rule(rule.Params())
    state = np.ascontiguousarray(instance.init_state(net, np.random.default_rng([seed, 2])), dtype=net.np_dtype)
    hp = instance.params.pack()
    inputs = {"X": X.copy(), "Y": Y.copy(), "layout": net.layout.copy(), "act_args": net.act_args.copy(),
              "hp": hp.copy()}
    signal = train_epoch(instance.kernel(net, batch), params, net.layout, net.act_args, state, hp, X, Y, batch)
    return params, state, signal, inputs, (X, Y, net.layout, net.act_args, hp)


def check_compiles_nopython(rule: type[Rule]) -> None:
    name = "compiles in nopython mode"
    if rule.kind != "online":
        return
    net = _usable_network(rule, "float64")
    for batch in (1, 3):  # every kernel the rule hands the engine (kernel() may specialise)
        try:
            _run_update(rule, net, labelled=True, batch=batch)
        except Exception as exc:  # noqa: BLE001 — the message is what the author needs
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _fail(name, f"the update kernel did not compile or run as compiled code ({type(exc).__name__}: "
                        f"{first}); kernels may use NumPy arrays, numbers and @njit helpers, no Python objects")
        kernel = rule(rule.Params()).kernel(net, batch)
        if not hasattr(kernel, "nopython_signatures") or kernel.targetoptions.get("forceobj") \
                or not kernel.nopython_signatures:
            _fail(name, f"the kernel for batch size {batch} is not compiled machine code "
                        "(object mode, or not decorated with @njit): a Python call per sample")


def check_shapes_and_dtypes(rule: type[Rule]) -> None:
    name = "shapes and dtypes"
    if rule.kind != "online":
        return
    for dtype in ("float64", "float32"):
        net = _usable_network(rule, dtype)
        for batch in (1, 3):
            params, state, signal, _, _ = _run_update(rule, net, labelled=True, batch=batch)
            if params.shape != (net.n_params,) or params.dtype != np.dtype(dtype):
                _fail(name, f"after an update ({dtype}, batch {batch}) params have shape {params.shape} and "
                            f"dtype {params.dtype}; expected ({net.n_params},) {dtype}")
            if state.dtype != np.dtype(dtype):
                _fail(name, f"the state array changed dtype to {state.dtype} ({dtype} network)")
            if not isinstance(signal, float) or not math.isfinite(signal):
                _fail(name, f"the kernel returned {signal!r} ({dtype}, batch {batch}); expected a finite float")
            if not np.all(np.isfinite(params)):
                _fail(name, f"one small update produced NaN or infinite weights ({dtype}, batch {batch})")


def check_deterministic(rule: type[Rule]) -> None:
    name = "deterministic for a seed"
    if rule.kind != "online":
        return
    net = _usable_network(rule, "float64")
    first = _run_update(rule, net, labelled=True, seed=3)
    second = _run_update(rule, net, labelled=True, seed=3)
    if not (np.array_equal(first[0], second[0]) and first[2] == second[2]):
        _fail(name, "two updates from the same seed gave different weights; draw randomness in init_state "
                    "from the rng you are given, never from np.random inside the kernel")


def check_inputs_untouched(rule: type[Rule]) -> None:
    name = "does not modify its inputs"
    if rule.kind != "online":
        return
    net = _usable_network(rule, "float64")
    _, _, _, before, after = _run_update(rule, net, labelled=True)
    for (key, old), new in zip(before.items(), after):
        if not np.array_equal(old, new):
            _fail(name, f"the update kernel wrote into {key}; only params and state may change")


def check_declared_needs(rule: type[Rule]) -> None:
    name = "declared needs"
    if rule.kind != "online":
        return
    if not rule.needs.labels:
        net = _usable_network(rule, "float64")
        try:
            params, _, signal, _, _ = _run_update(rule, net, labelled=False)
        except Exception as exc:  # noqa: BLE001
            _fail(name, f"the rule declares it needs no labels but failed on an unlabelled task "
                        f"(Y with no columns): {type(exc).__name__}: {exc}")
        if not np.all(np.isfinite(params)) or not math.isfinite(signal):
            _fail(name, "the rule declares it needs no labels but read targets on an unlabelled task "
                        "(Y has no columns there): declare needs = Needs(labels=True)")
    if rule.needs.differentiable:
        step = Network((4, 3, 2), ("step", "step"))
        if rule(rule.Params()).check_network(step) is None:
            _fail(name, "the rule declares it needs differentiable activations but accepts a step network")


def check_conv_networks(rule: type[Rule]) -> None:
    name = "conv networks"
    if rule.kind != "online":
        return
    for dtype in ("float64", "float32"):
        net = _conv_network(rule, dtype)
        if net is None:
            if any(kind in rule.layer_kinds for kind in ("conv1d", "conv2d")):
                _fail(name, f"the rule declares it trains {', '.join(rule.layer_kinds)} layers but refused every "
                            "small conv net (conv2d → pool2d → dropout → dense)")
            return
        for batch in (1, 3):
            try:
                params, state, signal, before, after = _run_update(rule, net, labelled=True, batch=batch)
            except Exception as exc:  # noqa: BLE001
                _fail(name, f"the update failed on a conv net ({dtype}, batch {batch}): {type(exc).__name__}: {exc}")
            if params.shape != (net.n_params,) or params.dtype != np.dtype(dtype) or state.dtype != np.dtype(dtype):
                _fail(name, f"shapes or dtypes changed on a conv net ({dtype}, batch {batch})")
            if not np.all(np.isfinite(params)) or not math.isfinite(signal):
                _fail(name, f"one small update on a conv net gave non-finite weights or signal ({dtype}, batch {batch})")
            for (key, old), new in zip(before.items(), after):
                if not np.array_equal(old, new):
                    _fail(name, f"the update kernel wrote into {key} on a conv net")
            again = _run_update(rule, net, labelled=True, batch=batch)
            if not np.array_equal(again[0], params):
                _fail(name, f"two updates from the same seed gave different weights on a conv net (batch {batch})")


def check_population(rule: type[Rule]) -> None:
    name = "population ask/tell"
    if rule.kind != "population":
        return
    instance = rule(rule.Params())
    if instance.compiled:
        _check_compiled_strategy(rule)
        return

    def run(seed: int) -> np.ndarray:
        instance = rule(rule.Params())
        rng = np.random.default_rng(seed)
        state = instance.start(np.ones(5), rng)
        for _ in range(3):
            population = np.asarray(instance.ask(state, rng))
            if population.ndim != 2 or population.shape[1] != 5 or not np.all(np.isfinite(population)):
                _fail(name, f"ask() must return finite (members × 5) parameters; got shape {population.shape}")
            instance.tell(state, population, -np.sum(population ** 2, axis=1))
        return np.asarray(instance.solution(state), dtype=float)

    first, second = run(4), run(4)
    if first.shape != (5,) or not np.array_equal(first, second):
        _fail(name, "the same seed must give the same solution; draw noise only from the rng passed to ask()")


def _check_compiled_strategy(rule: type[Rule]) -> None:
    """Compiled kernels: machine code, the declared sizes, finite members, a fixed state size, float32 and
    float64 searches, the same seed giving the same mean, and the fitness array left as given."""
    from rulelab.core.population import S_MEAN, Search

    name = "population ask/tell"
    for kernel, role in ((rule.ask_kernel, "ask_kernel"), (rule.tell_kernel, "tell_kernel")):
        if not hasattr(kernel, "py_func") or kernel.targetoptions.get("forceobj"):
            _fail(name, f"{role} must be an @njit function (compiled machine code, no Python per generation)")
        if not (kernel.py_func.__doc__ or "").strip():
            _fail(name, f"{role} has no docstring: state its update in one line")

    def run(seed: int, dtype) -> np.ndarray:
        instance = rule(rule.Params())
        search = Search(instance, np.ones(5), np.random.default_rng(seed), dtype)
        size = search.state.size
        if size != S_MEAN + 5 + instance.extra_state_size(5):
            _fail(name, f"initial_state gave {size} slots; [σ, generation, mean] and extra_state_size(5) = "
                        f"{instance.extra_state_size(5)} make {S_MEAN + 5 + instance.extra_state_size(5)}")
        for _ in range(3):
            population = search.ask()
            if population.shape != (instance.population_size(5), 5) or not np.all(np.isfinite(population)):
                _fail(name, f"ask_kernel must fill all {instance.population_size(5)} members with finite values")
            fitness = -np.sum(population.astype(np.float64) ** 2, axis=1)
            given = fitness.copy()
            search.tell(fitness)
            if not np.array_equal(fitness, given):
                _fail(name, "tell_kernel wrote into the fitness array; only the state may change")
            if search.state.size != size:
                _fail(name, "the state changed size; keep every slot the strategy needs from initial_state on")
        return search.mean.copy()

    for dtype in (np.float64, np.float32):
        first, second = run(4, dtype), run(4, dtype)
        if not (np.all(np.isfinite(first)) and np.array_equal(first, second)):
            _fail(name, f"the same seed must give the same mean ({np.dtype(dtype).name} search): draw noise only "
                        "from the noise arrays the engine hands to ask_kernel")


def check_associative(rule: type[Rule]) -> None:
    name = "associative storage"
    if rule.kind != "associative":
        return
    patterns = np.where(np.random.default_rng(0).random((3, 10)) < 0.5, -1.0, 1.0)
    W = np.asarray(rule(rule.Params()).store(patterns))
    if W.shape != (10, 10) or not np.all(np.isfinite(W)):
        _fail(name, f"store() must return a finite N × N matrix; got shape {W.shape}")
    if not np.allclose(W, W.T) or np.any(np.diag(W) != 0):
        _fail(name, "a Hopfield weight matrix must be symmetric with a zero diagonal (no self-connections)")


def check_sequence(rule: type[Rule]) -> None:
    """Sequence rules on a tiny recurrent net (2 features, 3 units, 2 classes, 5 steps), every loss at every step:
    a finite gradient whose readout part is exact (V and c learn from e_t s_tᵀ in every sequence rule, whatever
    carries the error to the hidden units), a loss equal to the net's, and short runs that are deterministic for
    a seed, keep float64 weights of the right shape and leave the data untouched."""
    name = "sequence rules"
    if rule.kind != "sequence":
        return
    from rulelab.tasks import sequence as S

    net = S.RecurrentNet(2, 3, 2, 5)
    rng = np.random.default_rng(0)
    params = net.init_params(rng)
    X = rng.normal(size=(6, net.n_inputs))
    Y = np.zeros((6, net.steps, 2))
    Y[np.arange(6)[:, None], np.arange(net.steps)[None, :], rng.integers(0, 2, (6, net.steps))] = 1.0
    Y = Y.reshape(6, -1)
    M = np.ones((6, net.steps))
    instance = rule(rule.Params())
    fixed = instance.feedback_matrix(net, params, np.random.default_rng(1))
    grad, loss, _ = S.sequence_gradient(instance, net, params, X[0], Y[0], M[0], fixed)
    if grad.shape != (net.n_params,) or not np.all(np.isfinite(grad)):
        _fail(name, "the gradient of one sequence is not a finite vector of one value per parameter")
    if not math.isclose(loss, S.evaluate(net, params, X[:1], Y[:1], M[:1])[0], rel_tol=1e-12):
        _fail(name, "the loss a rule reports for a sequence is not the net's loss Σ_t m_t d_t")
    exact, _, _ = S.sequence_gradient(_exact_rule(), net, params, X[0], Y[0], M[0])
    readout = net.hidden * (net.hidden + net.features + 1)
    if not np.allclose(grad[readout:], exact[readout:], rtol=1e-12, atol=1e-15):
        _fail(name, "the readout's gradient differs from Σ_t e_t s_tᵀ: the readout sees its own error exactly")
    before = [a.copy() for a in (X, Y, M)]

    def run(seed: int) -> np.ndarray:
        result = S.train(rule(rule.Params()), net, params, (X, Y, M), (X[:2], Y[:2], M[:2]), 2, 2,
                         np.random.default_rng([seed, 2]), np.random.default_rng([seed, 3]))
        if result.params.shape != (net.n_params,) or result.params.dtype != np.float64:
            _fail(name, "a run changed the weights' shape or dtype")
        return result.params

    if not np.array_equal(run(4), run(4)):
        _fail(name, "two runs from the same seed gave different weights; draw random matrices from the rng "
                    "feedback_matrix receives")
    if not all(np.array_equal(a, b) for a, b in zip(before, (X, Y, M))):
        _fail(name, "a run wrote into the data (X, Y or M)")


def _exact_rule():
    from rulelab.tasks.sequence import SequenceRule

    return type("ExactBPTT", (SequenceRule,), {"name": "exact"})()


CHECKS: tuple[Check, ...] = (
    Check("declaration", "name, family, equation, Params, a compiled update kernel", check_declaration),
    Check("hyperparameters", "defaults validate, bad values and unknown keys are rejected", check_hyperparameters),
    Check("compiles in nopython mode", "the kernel compiles as machine code, no Python per sample",
          check_compiles_nopython),
    Check("shapes and dtypes", "float32 and float64, online and minibatch: shapes and dtypes kept",
          check_shapes_and_dtypes),
    Check("deterministic for a seed", "same seed, same weights", check_deterministic),
    Check("does not modify its inputs", "X, Y, layout, act_args and hp unchanged", check_inputs_untouched),
    Check("declared needs", "no labels declared: runs unlabelled; differentiable declared: refuses step",
          check_declared_needs),
    Check("conv networks", "on a conv → pooling → dropout → dense net it accepts: shapes, dtypes, finite, inputs "
          "untouched, deterministic", check_conv_networks),
    Check("population ask/tell", "members have the right shape; the same seed gives the same result",
          check_population),
    Check("associative storage", "store() gives a symmetric, zero-diagonal N × N matrix", check_associative),
    Check("sequence rules", "on a tiny recurrent net: finite gradient, exact readout gradient, the net's loss, "
          "deterministic runs, data untouched", check_sequence),
)


def check_rule(rule: type[Rule]) -> list[str]:
    """Run every contract check on ``rule``; return the names of the checks passed.

    Raises :class:`RuleCheckError` at the first failure. Every check applies to the kinds
    of rule it concerns (online kernels, population ask/tell, associative storage).
    """
    passed = []
    for check in CHECKS:
        check.run(rule)
        passed.append(check.name)
    return passed


# ------------------------------------------------------------------ task kinds


class TaskKindCheckError(AssertionError):
    """A plug-in task kind broke the contract; the message names the check."""


def _kind_fail(check: str, message: str) -> None:
    raise TaskKindCheckError(f"check '{check}' failed: {message}")


def _arrays_of(data) -> dict[str, np.ndarray]:
    """Every array a seed's prepared data holds, by name (a split's, sequences', an objective's)."""
    found: dict[str, np.ndarray] = {}
    for part_name in ("split", "objective"):
        part = getattr(data, part_name)
        for field_name, value in (vars(part).items() if part is not None else ()):
            if isinstance(value, np.ndarray):
                found[f"{part_name}.{field_name}"] = value
    for i, sequences in enumerate(data.sequences or ()):
        for field_name, value in vars(sequences).items():
            if isinstance(value, np.ndarray):
                found[f"sequences[{i}].{field_name}"] = value
    return found


def measured_numbers(record) -> tuple[list[tuple[int, str]], np.ndarray]:
    """A run's (epoch, metric) keys and values, wall-clock columns aside: what the same seed must repeat."""
    kept = [(epoch, metric, value) for epoch, metric, value in record.all_rows() if metric != "wall_seconds"]
    return [(epoch, metric) for epoch, metric, _ in kept], np.asarray([value for _, _, value in kept], dtype=float)


def _same_numbers(a, b) -> bool:
    (keys_a, values_a), (keys_b, values_b) = measured_numbers(a), measured_numbers(b)
    return keys_a == keys_b and np.array_equal(values_a, values_b, equal_nan=True)


def check_task_kind(kind, scenario: dict | str) -> list[str]:
    """Run the contract checks of a task kind on a small scenario that uses it (a dict as a YAML file would
    hold it, or a file's path); return the names of the checks passed.

    Use it in the kind's test file::

        from rulelab.testing import check_task_kind
        from my_kinds import LabelNoise

        def test_my_kind_honours_the_contract():
            check_task_kind(LabelNoise, "my_scenario.yaml")

    Raises :class:`TaskKindCheckError` at the first failure, naming the check."""
    cls = kind if isinstance(kind, type) else type(kind)
    _check_kind_declaration(cls)
    valid = _check_kind_validates(cls, scenario)
    _check_kind_data(cls, valid)
    _check_kind_runs(valid)
    return ["declaration", "validates", "reproducible data", "consistent data", "runs"]


def _check_kind_declaration(cls) -> None:
    """A TaskKind subclass with its own identifier name, a summary, known targets, Options with defaults."""
    from rulelab.tasks.kinds import TaskKind, TaskKindError, register_task_kind

    if not issubclass(cls, TaskKind):
        _kind_fail("declaration", f"{cls!r} is not a subclass of rulelab.tasks.kinds.TaskKind")
    name = vars(cls).get("name")
    if not isinstance(name, str) or not name.isidentifier():
        _kind_fail("declaration", f"{cls.__name__} needs its own `name`, a Python identifier (got {name!r})")
    if not getattr(cls, "summary", ""):
        _kind_fail("declaration", f"task kind '{name}' needs a one-line `summary` (rulelab kinds shows it)")
    if cls.targets not in ("labels", "values", "inputs", "none"):
        _kind_fail("declaration", f"`targets` is {cls.targets!r}; expected labels, values, inputs or none")
    if cls.Options is not None:
        try:
            cls.Options.model_validate({})
        except (ValidationError, AttributeError, TypeError) as exc:
            _kind_fail("declaration", f"`Options` must be a pydantic model whose every field has a default "
                                      f"(task.options may be left out): {exc}")
    try:
        register_task_kind(cls, f"module {cls.__module__}")
    except TaskKindError as exc:
        _kind_fail("declaration", str(exc))


def _check_kind_validates(cls, scenario: dict | str):
    """The scenario validates with this kind (one seed), and its default metrics are metrics rulelab measures."""
    from pathlib import Path

    from rulelab.scenario import ScenarioError, load_scenario, validate_scenario
    from rulelab.scenario.schema import METRICS

    try:
        valid = load_scenario(Path(scenario), repeats=1) if isinstance(scenario, (str, Path)) else \
            validate_scenario({**scenario, "repeats": 1}, "<contract kit>", Path.cwd())
    except ScenarioError as exc:
        _kind_fail("validates", f"the scenario does not validate: {exc}")
    if valid.task.kind != cls.name:
        _kind_fail("validates", f"the scenario's task.kind is '{valid.task.kind}', not '{cls.name}'")
    unknown = [m for m in valid.metrics if m not in METRICS]
    if unknown:
        _kind_fail("validates", f"default metrics {unknown} are not metrics rulelab measures ({', '.join(METRICS)})")
    return valid


def _check_kind_data(cls, valid) -> None:
    """A seed's data is made the same every time (seeded streams only) and fits the task: finite values, rows
    matching, labels among the classes, the network's input size."""
    from rulelab.build import prepare_data

    seed = valid.seeds[0]
    data = prepare_data(valid, seed)
    arrays, again = _arrays_of(data), _arrays_of(prepare_data(valid, seed))
    for key, value in arrays.items():
        if not np.array_equal(value, again[key], equal_nan=value.dtype.kind == "f"):
            _kind_fail("reproducible data", f"{key} differs between two preparations of seed {seed}: draw from "
                                            "np.random.default_rng([seed, …]) streams, never the global generator")
    split = data.split
    if split is None:
        return
    for key, value in arrays.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            _kind_fail("consistent data", f"{key} holds NaN or infinite values")
    classes = max(data.n_classes, 2)
    for part in ("train", "test"):
        X, y = getattr(split, f"X_{part}"), getattr(split, f"y_{part}")
        if y is not None and len(y) != len(X):
            _kind_fail("consistent data", f"X_{part} has {len(X)} rows but y_{part} has {len(y)}")
        if y is not None and cls.classifies and len(y) and not (0 <= y.min() and y.max() < classes):
            _kind_fail("consistent data", f"y_{part} holds labels outside 0 … {classes - 1}")
    network = valid.rules[0].network
    if network is not None and split.X_train.ndim == 2 and split.X_train.shape[1] != network.sizes[0]:
        _kind_fail("consistent data", f"X_train has {split.X_train.shape[1]} features; the network takes "
                                      f"{network.sizes[0]}")


def _check_kind_runs(valid) -> None:
    """Every rule runs on the kind's data, and a second run of the same scenario and seed repeats its numbers."""
    from rulelab.run.runner import run_scenario

    records = run_scenario(valid)
    failed = [f"{r.label}: {r.message}" for r in records if r.status == "failed"]
    if failed:
        _kind_fail("runs", f"runs failed: {'; '.join(failed)}")
    for first_run, second_run in zip(records, run_scenario(valid)):
        if not _same_numbers(first_run, second_run):
            _kind_fail("runs", f"a second run of '{first_run.label}' on the same scenario and seed gave other numbers")

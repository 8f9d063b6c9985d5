"""Optimising inputs instead of weights: activation maximisation and adversarial examples.

The network's parameters are held fixed; gradient steps move the input x, using
the compiled ∂f/∂x of :func:`rulelab.core.gradient.input_gradient`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rulelab.core import kernels as K
from rulelab.core.gradient import input_gradient
from rulelab.core.network import Network, encode_targets, target_range
from rulelab.run.interrupts import check_interrupt
from rulelab.run.record import RunRecord

if TYPE_CHECKING:
    from rulelab.build import Plan


@dataclass
class _Buffers:
    z: np.ndarray
    a: np.ndarray
    d: np.ndarray
    gx: np.ndarray

    @classmethod
    def for_net(cls, net: Network) -> "_Buffers":
        n = net.n_units
        return cls(np.empty(n), np.empty(n), np.empty(n), np.empty(net.sizes[0]))


def _grad(net: Network, params: np.ndarray, x: np.ndarray, buf: _Buffers, layer: int = 0, unit: int = -1,
          t: np.ndarray | None = None, loss_code: int = K.SQUARED, of_activation: bool = False) -> float:
    target = t if t is not None else np.zeros(0)
    return float(input_gradient(params, net.layout, net.act_args, x, target, loss_code, layer, unit,
                                of_activation, buf.z, buf.a, buf.d, buf.gx))


def _predict(net: Network, params: np.ndarray, x: np.ndarray, buf: _Buffers) -> int:
    out = K.forward(params, net.layout, net.act_args, x, buf.z, buf.a)
    off, on = target_range(net.output_activation)
    last = net.layout.shape[0] - 1
    z = K.layer_buffer(buf.z, net.layout, last)
    return int(K.predict_net(out, z, net.layout[last, K.ACT], (off + on) / 2.0))


@dataclass
class MaximisationResult:
    inputs: np.ndarray  # (units, n_features)
    activations: np.ndarray  # the maximised quantity (z, or a = g(z)) of each unit at its optimised input
    start_activations: np.ndarray = field(default_factory=lambda: np.zeros(0))


def maximise_activations(net: Network, params: np.ndarray, layer: int, units: list[int], steps: int, lr: float,
                         l2: float, box: tuple[float, float], start: np.ndarray,
                         rng: np.random.Generator, of_activation: bool = False) -> MaximisationResult:
    """Gradient ascent on  f(x) − λ‖x − x₀‖²,  x kept in ``box``, from x₀ = ``start`` + small noise, where f is
    the unit's weighted input z_{layer,unit}(x) or, with ``of_activation``, its activation a = g(z)."""
    params = np.asarray(params, dtype=np.float64)
    buf = _Buffers.for_net(net)
    lo, hi = box
    results, values, first = [], [], []
    for unit in units:
        check_interrupt()  # one unit's ascent is short: stop between units
        x = np.clip(start + rng.normal(0.0, 0.01 * (hi - lo), size=start.shape), lo, hi)
        first.append(_grad(net, params, x, buf, layer, unit, of_activation=of_activation))
        for _ in range(steps):
            _grad(net, params, x, buf, layer, unit, of_activation=of_activation)
            x = np.clip(x + lr * (buf.gx - 2.0 * l2 * (x - start)), lo, hi)
        values.append(_grad(net, params, x, buf, layer, unit, of_activation=of_activation))
        results.append(x)
    return MaximisationResult(np.array(results), np.array(values), np.array(first))


@dataclass
class AdversarialResult:
    originals: np.ndarray
    adversarials: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray  # class predicted for each adversarial input
    epsilons: np.ndarray  # smallest budget found that flips the class (NaN: none within budget)

    @property
    def success_rate(self) -> float:
        return float(np.mean(np.isfinite(self.epsilons))) if self.epsilons.size else float("nan")


def _attack(net: Network, params: np.ndarray, x0: np.ndarray, t: np.ndarray, label: int, eps: float, norm: str,
            steps: int, box: tuple[float, float], loss_code: int, buf: _Buffers) -> np.ndarray | None:
    """Projected gradient ascent on the loss within ‖x − x₀‖ ≤ eps; the first input that changes the class."""
    alpha = 2.5 * eps / steps
    x = x0.copy()
    for _ in range(steps):
        _grad(net, params, x, buf, t=t, loss_code=loss_code)
        g = buf.gx
        if norm == "linf":
            x = np.clip(x + alpha * np.sign(g), x0 - eps, x0 + eps)
        else:
            norm_g = np.linalg.norm(g)
            if norm_g == 0.0:
                return None
            x = x + alpha * g / norm_g
            delta = x - x0
            size = np.linalg.norm(delta)
            if size > eps:
                x = x0 + delta * (eps / size)
        x = np.clip(x, *box)
        if _predict(net, params, x, buf) != label:
            return x
    return None


def perturbation_size(delta: np.ndarray, norm: str) -> float:
    return float(np.abs(delta).max() if norm == "linf" else np.linalg.norm(delta))


def adversarial_examples(net: Network, params: np.ndarray, X: np.ndarray, labels: np.ndarray, norm: str,
                         budget: float, steps: int, box: tuple[float, float], loss_code: int,
                         search_steps: int = 8) -> AdversarialResult:
    """For each correctly classified sample, the smallest perturbation (bisection on the budget ε,
    projected gradient steps at each ε) that changes the predicted class."""
    params = np.asarray(params, dtype=np.float64)
    buf = _Buffers.for_net(net)
    targets = encode_targets(labels, net.sizes[-1], net.output_activation)
    originals, adversarials, kept, predicted, epsilons = [], [], [], [], []
    for x0, t, label in zip(X, targets, labels):
        check_interrupt()  # one sample's search is short: stop between samples
        x0 = np.asarray(x0, dtype=np.float64)
        if _predict(net, params, x0, buf) != label:
            continue  # already misclassified: nothing to attack
        best = _attack(net, params, x0, t, label, budget, norm, steps, box, loss_code, buf)
        if best is not None:
            lo, hi = 0.0, budget
            for _ in range(search_steps):
                mid = (lo + hi) / 2.0
                found = _attack(net, params, x0, t, label, mid, norm, steps, box, loss_code, buf)
                if found is None:
                    lo = mid
                else:
                    hi, best = mid, found
        originals.append(x0)
        kept.append(label)
        adversarials.append(best if best is not None else x0)
        predicted.append(_predict(net, params, best, buf) if best is not None else label)
        # Report the perturbation actually found, measured in the attack's own norm.
        epsilons.append(perturbation_size(best - x0, norm) if best is not None else np.nan)
    return AdversarialResult(np.array(originals), np.array(adversarials), np.array(kept, dtype=np.int64),
                             np.array(predicted, dtype=np.int64), np.array(epsilons))


def _input_box(plan: Plan) -> tuple[float, float]:
    """Where the optimised inputs may lie: the declared box, or the training data's range."""
    box = plan.task.optimise.box
    return tuple(box) if box else (plan.data.low, plan.data.high)


def maximise_into_record(plan: Plan, params: np.ndarray, record: RunRecord) -> None:
    """Task kind activation_maximisation, on the trained weights: the inputs that drive the chosen units
    hardest, as artifacts, and the mean activation reached (and at the start) as metrics."""
    net, split, seed = plan.network, plan.data.split, plan.seed
    opt, box = plan.task.optimise, _input_box(plan)
    epoch = record.epochs_run
    layer = opt.layer % net.n_layers
    units = opt.units if opt.units is not None else list(range(net.sizes[layer + 1]))
    start = split.X_train.mean(axis=0) if opt.start == "mean" else np.zeros(net.sizes[0])
    result = maximise_activations(net, params, layer, units, opt.steps, opt.lr, opt.l2, box, start,
                                  np.random.default_rng([seed, 6]), of_activation=opt.maximise == "a")
    record.artifacts["activation_maximisation"] = result.inputs
    record.artifacts["activation_maximisation_units"] = np.asarray(units)
    record.rows.append((epoch, "max_activation_mean", float(result.activations.mean())))
    record.rows.append((epoch, "start_activation_mean", float(result.start_activations.mean())))


def attack_into_record(plan: Plan, params: np.ndarray, record: RunRecord) -> None:
    """Task kind adversarial, on the trained weights: the smallest input changes (within the budget, in
    the task's norm) that flip the answers on test rows (training rows without a test set)."""
    net, split = plan.network, plan.data.split
    opt, box = plan.task.optimise, _input_box(plan)
    epoch = record.epochs_run
    X, labels = (split.X_test, split.y_test) if split.X_test.shape[0] else (split.X_train, split.y_train)
    loss_code = K.LOSS_CODES[plan.task.loss]
    result = adversarial_examples(net, params, X[:opt.samples], labels[:opt.samples], opt.norm, opt.budget,
                                  opt.steps, box, loss_code)
    for name in ("originals", "adversarials", "labels", "predicted", "epsilons"):
        record.artifacts[f"adversarial_{name}"] = getattr(result, name)
    record.rows.append((epoch, "adversarial_success_rate", result.success_rate))
    found = result.epsilons[np.isfinite(result.epsilons)]
    record.rows.append((epoch, "adversarial_epsilon_mean", float(found.mean()) if found.size else float("nan")))

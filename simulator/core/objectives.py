"""Black-box objectives of the evolution-strategy literature, compiled: f(x) for a bare parameter vector.

Every function is evaluated at z = R (x − s) (+ 1 for Rosenbrock, whose raw optimum is the
all-ones vector), so that its minimum f = 0 lies at x = s for every function:

    sphere       f(z) = Σ z_i²
    ellipsoid    f(z) = Σ 10^(6 i/(D−1)) z_i²               (condition number 10⁶; D = 1: z²)
    rosenbrock   f(z) = Σ_{i<D} 100 (z_i² − z_{i+1})² + (1 − z_i)²
    rastrigin    f(z) = 10 D + Σ (z_i² − 10 cos 2π z_i)
    ackley       f(z) = −20 exp(−0.2 √(Σ z_i²/D)) − exp(Σ cos(2π z_i)/D) + 20 + e

s is the seeded shift (0 unless ``shift: true``) and R the seeded rotation (I unless
``rotate: true``).  They travel to the compiled generation loop as one float64 matrix,
``transform``: its last row is s, and the D rows before it (when present) are R — a
transform of one row means "not rotated".  The engine passes the function's code
(OBJECTIVE_CODES) in its settings; code 0 means the fitness is a network's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (the kernel cache directory, before any @njit below)

NETWORK = 0
SPHERE, ELLIPSOID, ROSENBROCK, RASTRIGIN, ACKLEY = 1, 2, 3, 4, 5
OBJECTIVE_CODES = {"sphere": SPHERE, "ellipsoid": ELLIPSOID, "rosenbrock": ROSENBROCK, "rastrigin": RASTRIGIN,
                   "ackley": ACKLEY}
SHIFT_RANGE = 4.0  # shift: s ~ U[−4, 4]^D (as the COCO/BBOB functions place their optima)


@njit(cache=True, inline="always")
def sphere(z):
    """f = Σ z_i²."""
    total = 0.0
    for i in range(z.shape[0]):
        total += z[i] * z[i]
    return total


@njit(cache=True, inline="always")
def ellipsoid(z):
    """f = Σ 10^(6 i/(D−1)) z_i²  (axis scales 1 … 10³, condition 10⁶)."""
    n = z.shape[0]
    total = 0.0
    for i in range(n):
        scale = 10.0 ** (6.0 * i / (n - 1)) if n > 1 else 1.0
        total += scale * z[i] * z[i]
    return total


@njit(cache=True, inline="always")
def rosenbrock(z):
    """f = Σ_{i<D} 100 (z_i² − z_{i+1})² + (1 − z_i)²  (minimum 0 at z = 1)."""
    total = 0.0
    for i in range(z.shape[0] - 1):
        a = z[i] * z[i] - z[i + 1]
        b = 1.0 - z[i]
        total += 100.0 * a * a + b * b
    return total


@njit(cache=True, inline="always")
def rastrigin(z):
    """f = 10 D + Σ (z_i² − 10 cos 2π z_i)."""
    total = 10.0 * z.shape[0]
    for i in range(z.shape[0]):
        total += z[i] * z[i] - 10.0 * np.cos(2.0 * np.pi * z[i])
    return total


@njit(cache=True, inline="always")
def ackley(z):
    """f = −20 exp(−0.2 √(Σ z_i²/D)) − exp(Σ cos(2π z_i)/D) + 20 + e."""
    n = z.shape[0]
    squares, cosines = 0.0, 0.0
    for i in range(n):
        squares += z[i] * z[i]
        cosines += np.cos(2.0 * np.pi * z[i])
    return -20.0 * np.exp(-0.2 * np.sqrt(squares / n)) - np.exp(cosines / n) + 20.0 + np.e


@njit(cache=True, inline="always")
def raw_value(code, z):
    """f(z) of function ``code`` at the already transformed point z."""
    if code == SPHERE:
        return sphere(z)
    if code == ELLIPSOID:
        return ellipsoid(z)
    if code == ROSENBROCK:
        return rosenbrock(z)
    if code == RASTRIGIN:
        return rastrigin(z)
    if code == ACKLEY:
        return ackley(z)
    return np.nan


@njit(cache=True, inline="always")
def transform_into(x, transform, code, z):
    """z = R (x − s) (+ 1 for Rosenbrock): s the last row of ``transform``, R the rows before it (if any)."""
    n = x.shape[0]
    s = transform[transform.shape[0] - 1]
    if transform.shape[0] > 1:
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += transform[i, j] * (np.float64(x[j]) - s[j])
            z[i] = acc
    else:
        for i in range(n):
            z[i] = np.float64(x[i]) - s[i]
    if code == ROSENBROCK:
        for i in range(n):
            z[i] += 1.0


@njit(cache=True)
def objective_value(code, x, transform):
    """f(x) = f_raw(R (x − s) (+ 1 for Rosenbrock)) of one point."""
    z = np.empty(x.shape[0])
    transform_into(x, transform, code, z)
    return raw_value(code, z)


@njit(cache=True, inline="always")
def objective_fitness(population, code, transform, out):
    """out[i] = −f(population[i]) (higher is better), members in order, one scratch vector for all."""
    z = np.empty(population.shape[1])
    for i in range(population.shape[0]):
        transform_into(population[i], transform, code, z)
        out[i] = -raw_value(code, z)


def random_rotation(dimension: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal matrix, Haar-distributed: Q of the QR of a Gaussian matrix, columns' signs fixed by
    diag(R) > 0 (Mezzadri 2007)."""
    q, r = np.linalg.qr(rng.standard_normal((dimension, dimension)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def make_transform(dimension: int, shift: bool, rotate: bool, seed: int) -> np.ndarray:
    """The seeded ``transform`` matrix of one repeat: s from SeedSequence([seed, 0, 1]), R from [seed, 0, 2]
    (the dataset's stream [seed, 0], so every rule of a repeat meets the same function)."""
    s = (np.random.default_rng([seed, 0, 1]).uniform(-SHIFT_RANGE, SHIFT_RANGE, dimension) if shift
         else np.zeros(dimension))
    if not rotate:
        return np.ascontiguousarray(s[None, :])
    R = random_rotation(dimension, np.random.default_rng([seed, 0, 2]))
    return np.ascontiguousarray(np.vstack([R, s[None, :]]))


def optimum(transform: np.ndarray) -> np.ndarray:
    """Where f = 0: x* = s for every function (z = 0, or z = 1 for Rosenbrock, at x = s)."""
    return transform[-1].copy()


def value(function: str, x: np.ndarray, transform: np.ndarray) -> float:
    """f(x) of a named function (for tests and the first metric row)."""
    return float(objective_value(OBJECTIVE_CODES[function], np.ascontiguousarray(x, dtype=np.float64), transform))


__all__ = ["ACKLEY", "ELLIPSOID", "NETWORK", "OBJECTIVE_CODES", "RASTRIGIN", "ROSENBROCK", "SPHERE", "make_transform",
           "objective_fitness", "objective_value", "optimum", "random_rotation", "value"]

"""TensorFlow Playground's data sets and input features, as plain NumPy generators.

Lecture notes 001 and 002 send students to https://playground.tensorflow.org; these
generators follow the definitions of its ``src/dataset.ts`` (Apache 2.0; re-implemented
here, not copied) so that rulelab and a browser playground built on it draw the same
kind of data:

* every classification set has labels ±1 (here +1 → class 1, −1 → class 0);
* ``noise`` is the playground's slider divided by 100 (0 … 0.5).  It moves the point
  at which a *label* is decided, not the point drawn: the label comes from
  (x + εx, y + εy) with ε uniform in ±radius·noise, so near a boundary labels flip
  (Gaussian clusters instead widen with the noise; spirals jitter the points);
* the regression targets lie in [−1, 1] (the plane's reach ±1.2 in the corners, as there).

Randomness comes from the NumPy generator passed in (the playground's Math.random
cannot be reproduced outside a browser), drawn per array, not per point.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

# --- derived input features (the playground's X₁, X₂, X₁², X₂², X₁X₂, sin X₁, sin X₂) -------------

INPUT_FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1_squared": lambda x1, x2: x1 * x1,
    "x2_squared": lambda x1, x2: x2 * x2,
    "x1_times_x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}


def derived_features(points: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Columns computed from 2-D points (n × 2), one per name of :data:`INPUT_FEATURES`, in order."""
    points = np.asarray(points, dtype=np.float64)
    x1, x2 = points[:, 0], points[:, 1]
    return np.column_stack([INPUT_FEATURES[name](x1, x2) for name in names])


# --- classification: points (n × 2) and labels ±1 -------------------------------------------------


def _uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return rng.uniform(low, high, size=n)


def _labelling_noise(rng: np.random.Generator, n: int, radius: float, noise: float) -> np.ndarray:
    """(εx, εy) per point, uniform in ±radius·noise: where the label is decided, relative to the point."""
    return np.column_stack([_uniform(rng, -radius, radius, n), _uniform(rng, -radius, radius, n)]) * noise


def xor_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four quadrants of [−5, 5]², each coordinate pushed 0.3 away from the axes; label +1 where x·y ≥ 0."""
    padding = 0.3
    xy = np.column_stack([_uniform(rng, -5, 5, n), _uniform(rng, -5, 5, n)])
    xy += np.where(xy > 0, padding, -padding)
    shifted = xy + _labelling_noise(rng, n, 5.0, noise)
    labels = np.where(shifted[:, 0] * shifted[:, 1] >= 0, 1, -1)
    return xy, labels


def gauss_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clusters at (2, 2) (label +1) and (−2, −2) (label −1); the variance grows
    linearly with the noise, 0.5 at noise 0 to 4 at noise 0.5."""
    variance = 0.5 + (4.0 - 0.5) * noise / 0.5
    n_positive = n - n // 2
    centres = np.where(np.arange(n)[:, None] < n_positive, 2.0, -2.0)
    xy = centres + rng.normal(0.0, np.sqrt(variance), size=(n, 2))
    return xy, np.where(np.arange(n) < n_positive, 1, -1)


def circle_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Half the points at radius < 2.5, half in the ring 3.5 … 5; label +1 inside radius 2.5."""
    radius = 5.0
    n_inside = n - n // 2
    r = np.concatenate([_uniform(rng, 0.0, 0.5 * radius, n_inside), _uniform(rng, 0.7 * radius, radius, n // 2)])
    angle = _uniform(rng, 0.0, 2 * np.pi, n)
    xy = np.column_stack([r * np.sin(angle), r * np.cos(angle)])
    shifted = xy + _labelling_noise(rng, n, radius, noise)
    return xy, np.where(np.hypot(shifted[:, 0], shifted[:, 1]) < 0.5 * radius, 1, -1)


def spiral_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two spiral arms (label +1, and −1 turned by π): r = 5 i/m, t = 1.75 · 2π i/m; points jittered
    by uniform ±noise per coordinate."""
    parts, labels = [], []
    for label, count, turn in ((1, n - n // 2, 0.0), (-1, n // 2, np.pi)):
        i = np.arange(count)
        r = i / count * 5.0
        t = 1.75 * i / count * 2 * np.pi + turn
        jitter = np.column_stack([_uniform(rng, -1, 1, count), _uniform(rng, -1, 1, count)]) * noise
        parts.append(np.column_stack([r * np.sin(t), r * np.cos(t)]) + jitter)
        labels.append(np.full(count, label))
    return np.vstack(parts), np.concatenate(labels)


# --- regression: points (n × 2) and targets in [−1, 1] ----------------------------------------------

REGRESSION_RADIUS = 6.0
# (centre x, centre y, sign) of the multi-Gaussian regression set.
GAUSSIAN_BUMPS = ((-4.0, 2.5, 1.0), (0.0, 2.5, -1.0), (4.0, 2.5, 1.0),
                  (-4.0, -2.5, -1.0), (0.0, -2.5, 1.0), (4.0, -2.5, -1.0))


def _regression_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform in [−6, 6]² and where their target is read (the point plus uniform ±6·noise)."""
    r = REGRESSION_RADIUS
    xy = np.column_stack([_uniform(rng, -r, r, n), _uniform(rng, -r, r, n)])
    return xy, xy + _labelling_noise(rng, n, r, noise)


def plane_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Target (x + y)/10: a tilted plane, −1.2 … 1.2 over the square (the playground maps [−10, 10] → [−1, 1])."""
    xy, at = _regression_points(n, noise, rng)
    return xy, (at[:, 0] + at[:, 1]) / 10.0


def multi_gauss_target(at: np.ndarray) -> np.ndarray:
    """Six bumps of alternating sign: each gives sign · max(0, 1 − d/2) at distance d from its centre;
    the target is the bump largest in absolute value (the first of equals), 0 far from all."""
    target = np.zeros(len(at))
    for cx, cy, sign in GAUSSIAN_BUMPS:
        height = np.clip(1.0 - np.hypot(at[:, 0] - cx, at[:, 1] - cy) / 2.0, 0.0, 1.0)
        target = np.where(height > np.abs(target), sign * height, target)
    return target


def multi_gauss_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    xy, at = _regression_points(n, noise, rng)
    return xy, multi_gauss_target(at)


CLASSIFICATION = {"xor": xor_points, "gauss": gauss_points, "circle": circle_points, "spiral": spiral_points}
REGRESSION = {"plane": plane_points, "multi_gauss": multi_gauss_points}

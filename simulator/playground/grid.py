"""What the page draws for one network: its output over a grid of the input plane, in one compiled call.

One forward pass per grid point fills every layer's activations, so the decision
regions (the predicted class), the output value (shading, or the regression surface)
and every hidden unit's output come from the same pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from rulelab.core import jit  # noqa: F401  (the kernel cache directory, before any @njit below)
from rulelab.core.layers import forward
from rulelab.core.layout import ACT, layer_buffer, n_units
from rulelab.core.losses import predict_net


@njit(cache=True)
def grid_outputs(params, layout, act_args, X, threshold, classes, values, hidden):
    """For every row of X: the predicted class, the first output unit's value and the hidden units' outputs.

    ``hidden`` is (rows, hidden units): the activations of every layer but the last, in layer order."""
    units = n_units(layout)
    z_buf = np.empty(units, dtype=params.dtype)
    a_buf = np.empty(units, dtype=params.dtype)
    n_hidden = hidden.shape[1]
    last = layout.shape[0] - 1
    for s in range(X.shape[0]):
        out = forward(params, layout, act_args, X[s], z_buf, a_buf)
        classes[s] = predict_net(out, layer_buffer(z_buf, layout, last), layout[last, ACT], threshold)
        values[s] = out[0]
        for j in range(n_hidden):
            hidden[s, j] = a_buf[j]


@dataclass(frozen=True)
class Grid:
    """A square grid over the plane the page draws: ``size`` × ``size`` points, row 0 at the top."""

    size: int
    low: tuple[float, float]
    high: tuple[float, float]

    @property
    def points(self) -> np.ndarray:
        """(size², 2): x grows along a row, y falls from the top row down (as a canvas draws)."""
        xs = np.linspace(self.low[0], self.high[0], self.size)
        ys = np.linspace(self.high[1], self.low[1], self.size)
        gx, gy = np.meshgrid(xs, ys)
        return np.column_stack([gx.ravel(), gy.ravel()])

    @classmethod
    def around(cls, points: np.ndarray, size: int, pad: float = 0.1) -> "Grid":
        """A grid covering ``points`` (n × 2) with a margin of ``pad`` of their extent, square in data units."""
        lo, hi = points.min(axis=0), points.max(axis=0)
        centre = (lo + hi) / 2
        half = max(float(np.max(hi - lo)) / 2, 1e-6) * (1 + 2 * pad)
        return cls(size, (float(centre[0] - half), float(centre[1] - half)),
                   (float(centre[0] + half), float(centre[1] + half)))


def quantise(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values mapped linearly from [low, high] to the bytes 0 … 255 (clipped; NaN → 0)."""
    span = high - low if high > low else 1.0
    scaled = np.nan_to_num((np.asarray(values, dtype=np.float64) - low) / span * 255.0, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)

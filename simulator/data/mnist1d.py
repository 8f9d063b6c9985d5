"""MNIST-1D (Greydanus & Kobak 2020): ten 1-D templates, padded, dilated, scaled, shifted, noised and sheared.

The published procedure (the ``mnist1d`` package's ``make_dataset``, default arguments),
written out here so that nothing is downloaded and no extra package is needed.  It
draws from NumPy's legacy ``RandomState`` in the package's order, so ``seed: 42`` with
the default options gives the published data set (5000 signals of 40 samples; the
first 4000 are its training split), and ``shuffle: true`` its spatially shuffled variant
(one fixed permutation of the 40 positions, drawn after the samples).

Each sample: template x (12 points) → append p ~ U{36 … 60} zeros → interpolate to 72
points → scale by 1 + 0.4 (u − ½) → circular shift by k ~ U{0 … 47} → where x = 0, put
correlated noise (Gaussian σ = 0.25, smoothed by a Gaussian filter of σ = 2) → add white
noise σ = 0.02 → shear: subtract 0.75 (u − ½) · linspace(−½, ½) → interpolate to 40 points.
Finally the whole set is centred and scaled to standard deviation 1.
"""

from __future__ import annotations

import numpy as np

TEMPLATE_LENGTH = 12
PADDING = (36, 60)
SCALE_COEFF = 0.4
MAX_TRANSLATION = 48
CORR_NOISE_SCALE = 0.25
IID_NOISE_SCALE = 2e-2
SHEAR_SCALE = 0.75
FINAL_SEQ_LENGTH = 40


def templates() -> np.ndarray:
    """The ten digit templates (10 × 12), whitened, starting at 0, scaled by 1/6."""
    x = np.asarray([
        [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
        [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
        [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
        [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
        [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
        [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
        [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
        [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
    ])
    x -= x.mean(1, keepdims=True)
    x /= x.std(1, keepdims=True)
    x -= x[:, :1]
    return x / 6.0


def _interpolate(x: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of x (equally spaced on [0, 1]) at n equally spaced points."""
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def _transform(x: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
    """One signal from a template, the random draws in the published order."""
    from scipy.ndimage import gaussian_filter

    low, high = PADDING
    p = low + int(rs.rand() * (high - low + 1))
    new = np.concatenate([x + 1e-8, np.zeros(p)])
    new = _interpolate(new, TEMPLATE_LENGTH + high)
    new = new * (1 + SCALE_COEFF * (rs.rand() - 0.5))
    k = rs.choice(MAX_TRANSLATION)
    new = np.concatenate([new[-k:], new[:-k]])
    mask = new != 0
    noise = gaussian_filter(CORR_NOISE_SCALE * rs.randn(*new.shape), 2)
    new = mask * new + (1 - mask) * noise
    new = new + IID_NOISE_SCALE * rs.randn(*new.shape)
    coeff = SHEAR_SCALE * (rs.rand() - 0.5)
    new = new - coeff * np.linspace(-0.5, 0.5, len(new))
    return _interpolate(new, FINAL_SEQ_LENGTH)


def make_mnist1d(n_samples: int = 5000, seed: int = 42, shuffle: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): ``n_samples`` signals of 40 values (n_samples // 10 per class, in a seeded order) and their digits."""
    rs = np.random.RandomState(seed)
    base = templates()
    per_class = n_samples // 10
    xs, ys = [], []
    for label in range(10):
        for _ in range(per_class):
            xs.append(_transform(base[label], rs))
            ys.append(label)
    order = rs.permutation(len(ys))
    X = np.stack(xs)[order]
    y = np.asarray(ys, dtype=np.int64)[order]
    if shuffle:
        X = X[:, rs.permutation(FINAL_SEQ_LENGTH)]
    return (X - X.mean()) / X.std(), y

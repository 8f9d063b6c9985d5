"""Figures, written to files with a non-interactive backend: no display is ever needed."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def image_grid(images: np.ndarray, shape: tuple[int, int], path: Path, titles: Sequence[str] = (),
               suptitle: str = "", cmap: str = "gray_r", columns: int = 10, symmetric: bool = False):
    """Save a grid of images (one flattened image per row of ``images``) as PNG and SVG; returns the figure."""
    n = len(images)
    cols = min(columns, max(n, 1))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows + 0.4), squeeze=False)
    limit = float(np.abs(images).max()) if symmetric and n else None
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= n:
            continue
        image = np.asarray(images[k]).reshape(shape)
        if symmetric:
            ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            ax.imshow(image, cmap=cmap)
        if k < len(titles):
            ax.set_title(titles[k], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path.with_suffix(".png"), dpi=110)
    fig.savefig(path.with_suffix(".svg"))
    plt.close(fig)
    return fig

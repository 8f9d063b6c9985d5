"""rulelab: compare learning rules — perceptron, delta, backprop, Hebbian, Hopfield,
evolution strategies — on one compiled network core, from scenario files.

The package imports nothing heavy: Numba kernels load when a run starts.
"""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("rulelab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"

__all__ = ["__version__"]

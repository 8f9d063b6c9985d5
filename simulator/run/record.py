"""What one (rule, seed) run produced, and the words for how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Statuses of one (rule, seed) run.
CONVERGED = "converged"
NOT_CONVERGED = "not_converged"
COMPLETED = "completed"  # no stop criterion was declared
DIVERGED = "diverged"
FAILED = "failed"
INTERRUPTED = "interrupted"


@dataclass
class RunRecord:
    """Everything one (rule, seed) run produced."""

    label: str
    rule: str
    family: str
    seed: int
    status: str = COMPLETED
    message: str = ""
    epochs_run: int = 0
    criterion_epoch: int | None = None
    criterion_forward_passes: int | None = None
    wall_seconds: float = 0.0
    forward_passes: int = 0
    samples: int = 0  # training rows seen (for ES: rows per generation, not × members)
    rows: list[tuple[int, str, float]] = field(default_factory=list)
    params: np.ndarray | None = None
    # Arrays a task kind produces besides weights (optimised inputs, adversarial examples).
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)

    def final(self, metric: str) -> float:
        values = [v for _, m, v in self.rows if m == metric]
        return values[-1] if values else float("nan")

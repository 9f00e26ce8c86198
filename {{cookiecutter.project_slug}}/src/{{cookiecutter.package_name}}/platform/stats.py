"""Estimates with uncertainty, shared by every evaluation in the project."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its percentile bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def percentile_interval(
    samples: Sequence[float] | np.ndarray, confidence: float
) -> tuple[float, float]:
    """The central `confidence` interval of bootstrap samples."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if len(samples) == 0:
        raise ValueError("a bootstrap interval needs at least one sample")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(np.asarray(samples, dtype=float), [alpha, 1 - alpha])
    return float(low), float(high)

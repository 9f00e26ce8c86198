"""Classification metrics with bootstrap confidence intervals (pure functions).

Metrics are computed row-wise on 2-D arrays (one bootstrap resample per row), so
a thousand resamples cost one vectorised pass instead of a thousand calls.
"""

from collections.abc import Callable, Mapping

import numpy as np
from scipy.stats import rankdata

from .platform.stats import Estimate, percentile_interval

Metric = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (as scikit-learn's zero_division=0)."""
    out = np.zeros_like(numerator, dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def roc_auc(y: np.ndarray, p: np.ndarray, _threshold: float) -> np.ndarray:
    """Mann-Whitney form of ROC AUC, ties counted half, row by row."""
    ranks = rankdata(p, axis=1)
    positives = y.sum(axis=1)
    negatives = y.shape[1] - positives
    rank_sum = (ranks * y).sum(axis=1)
    return _safe_ratio(rank_sum - positives * (positives + 1) / 2, positives * negatives)


def _counts(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    predicted = p >= threshold
    actual = y.astype(bool)
    tp = (predicted & actual).sum(axis=1)
    fp = (predicted & ~actual).sum(axis=1)
    fn = (~predicted & actual).sum(axis=1)
    return tp, fp, fn


def precision(y: np.ndarray, p: np.ndarray, threshold: float) -> np.ndarray:
    tp, fp, _ = _counts(y, p, threshold)
    return _safe_ratio(tp, tp + fp)


def recall(y: np.ndarray, p: np.ndarray, threshold: float) -> np.ndarray:
    tp, _, fn = _counts(y, p, threshold)
    return _safe_ratio(tp, tp + fn)


def f1(y: np.ndarray, p: np.ndarray, threshold: float) -> np.ndarray:
    tp, fp, fn = _counts(y, p, threshold)
    return _safe_ratio(2 * tp, 2 * tp + fp + fn)


def accuracy(y: np.ndarray, p: np.ndarray, threshold: float) -> np.ndarray:
    result: np.ndarray = ((p >= threshold) == y.astype(bool)).mean(axis=1)
    return result


def brier(y: np.ndarray, p: np.ndarray, _threshold: float) -> np.ndarray:
    result: np.ndarray = ((p - y) ** 2).mean(axis=1)
    return result


METRICS: Mapping[str, Metric] = {
    "roc_auc": roc_auc,
    "f1": f1,
    "precision": precision,
    "recall": recall,
    "accuracy": accuracy,
    "brier": brier,
}


def evaluate(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    *,
    threshold: float = 0.5,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Every metric in METRICS with a percentile bootstrap interval.

    Resamples are drawn once and shared by all metrics, so intervals are comparable.
    Resamples holding a single class are dropped: ROC AUC is undefined on them.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y_true {y.shape} and y_prob {p.shape} must be 1-D and of equal length")
    if not np.isin(y, (0.0, 1.0)).all() or len(np.unique(y)) < 2:
        raise ValueError("y_true must hold 0/1 labels of both classes")
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(y), size=(n_bootstrap, len(y)))
    resampled_y = y[indices]
    positives = resampled_y.sum(axis=1)
    keep = (positives > 0) & (positives < len(y))
    resampled_y, resampled_p = resampled_y[keep], p[indices[keep]]
    estimates = {}
    for name, metric in METRICS.items():
        low, high = percentile_interval(metric(resampled_y, resampled_p, threshold), confidence)
        point = float(metric(y[None, :], p[None, :], threshold)[0])
        estimates[name] = Estimate(point, low, high)
    return estimates


def point_values(estimates: Mapping[str, Estimate]) -> dict[str, float]:
    return {name: estimate.value for name, estimate in estimates.items()}


def markdown_table(rows: Mapping[str, Mapping[str, Estimate]]) -> str:
    """One row per model, one column per metric, each `value [low, high]`."""
    names = list(next(iter(rows.values())))
    lines = ["| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for model, estimates in rows.items():
        lines.append(f"| {model} | " + " | ".join(str(estimates[n]) for n in names) + " |")
    return "\n".join(lines)

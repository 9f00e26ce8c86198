"""Input drift: reference statistics saved at training, compared with live inputs.

PSI (population stability index) on fixed bins works for every feature; the KS
test adds a p-value for numeric ones. Both need only what `reference()` stores,
so the serving image carries no training data.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES

N_BINS = 10
REFERENCE_SAMPLE = 500
# Avoids log(0) when a bin is empty on one side.
_EPSILON = 1e-4


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    ks_pvalue: float | None
    drifted: bool


def _numeric_reference(values: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    edges = np.unique(np.quantile(values, np.linspace(0, 1, N_BINS + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    sample = rng.choice(values, size=min(REFERENCE_SAMPLE, len(values)), replace=False)
    return {
        "edges": edges.tolist(),
        "proportions": (counts / counts.sum()).tolist(),
        "sample": np.sort(sample).tolist(),
    }


def reference(frame: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """JSON-serialisable statistics of the training inputs."""
    rng = np.random.default_rng(seed)
    numeric = {
        name: _numeric_reference(frame[name].to_numpy(dtype=float), rng)
        for name in NUMERIC_FEATURES
    }
    categorical = {
        name: {
            str(k): float(v)
            for k, v in frame[name].astype(str).value_counts(normalize=True).items()
        }
        for name in CATEGORICAL_FEATURES
    }
    return {"numeric": numeric, "categorical": categorical, "rows": len(frame)}


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index between two binned distributions (proportions)."""
    e = np.clip(np.asarray(expected, dtype=float), _EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def compare(
    ref: Mapping[str, Any], live: pd.DataFrame, psi_alert: float = 0.2
) -> list[FeatureDrift]:
    """Drift of every feature in `live` against the reference statistics."""
    if live.empty:
        raise ValueError("drift needs at least one live row")
    results = []
    for name, stats_ in ref["numeric"].items():
        values = live[name].to_numpy(dtype=float)
        edges = np.asarray(stats_["edges"])
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        score = psi(stats_["proportions"], counts / counts.sum())
        pvalue = float(stats.ks_2samp(stats_["sample"], values).pvalue)
        results.append(FeatureDrift(name, score, pvalue, score > psi_alert))
    for name, proportions in ref["categorical"].items():
        observed = live[name].astype(str).value_counts(normalize=True)
        categories = sorted(set(proportions) | set(observed.index))
        score = psi(
            [proportions.get(c, 0.0) for c in categories],
            [float(observed.get(c, 0.0)) for c in categories],
        )
        results.append(FeatureDrift(name, score, None, score > psi_alert))
    return results


def as_records(results: Sequence[FeatureDrift]) -> list[dict[str, Any]]:
    return [asdict(result) for result in results]

"""A fast scorer for the API's hot path, compiled from the fitted pipeline.

scikit-learn's ColumnTransformer validates and re-indexes its input on every
call, which costs milliseconds for a single row. A logistic regression over
scaled numbers and one-hot categories is one dot product, so serving computes
exactly that from the fitted parameters. The pipeline stays the source of truth:
the scorer is built only when every step is of the expected kind, and is kept
only if it agrees with the pipeline on a probe batch; otherwise the pipeline serves.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TOLERANCE = 1e-9


@dataclass(frozen=True)
class LinearScorer:
    """sigmoid(w . [scaled numbers, one-hot categories] + b), column for column."""

    numeric: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    numeric_weights: np.ndarray
    categorical: tuple[str, ...]
    category_weights: tuple[dict[object, float], ...]
    intercept: float

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        values = features[list(self.numeric)].to_numpy(dtype=float)
        logit = ((values - self.mean) / self.scale) @ self.numeric_weights + self.intercept
        for name, weights in zip(self.categorical, self.category_weights, strict=True):
            # Unknown categories weigh nothing, as with OneHotEncoder(handle_unknown="ignore").
            logit = logit + np.array([weights.get(v, 0.0) for v in features[name].tolist()])
        positive = 1.0 / (1.0 + np.exp(-logit))
        return np.column_stack([1.0 - positive, positive])


@dataclass(frozen=True)
class _Parts:
    pipeline: Pipeline
    scaler: StandardScaler
    numeric: list[str]
    encoder: OneHotEncoder
    categorical: list[str]
    classifier: LogisticRegression


def _parts(model: object) -> _Parts | None:
    """The fitted steps, if `model` has exactly the shape the scorer mirrors."""
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    features, classifier = (step for _, step in model.steps)
    shaped = (
        isinstance(features, ColumnTransformer)
        and features.remainder == "drop"
        and isinstance(classifier, LogisticRegression)
        and list(classifier.classes_) == [0, 1]
    )
    if not shaped:
        return None
    fitted = [(step, list(cols)) for _, step, cols in features.transformers_ if step != "drop"]
    if len(fitted) != 2:
        return None
    (scaler, numeric), (encoder, categorical) = fitted
    if (
        isinstance(scaler, StandardScaler)
        and isinstance(encoder, OneHotEncoder)
        and encoder.drop is None
        and encoder.handle_unknown == "ignore"
    ):
        return _Parts(model, scaler, numeric, encoder, categorical, classifier)
    return None


def compile_linear(model: object) -> LinearScorer | None:
    """The fast scorer for `model`, or None when it is not a pipeline this can mirror."""
    parts = _parts(model)
    if parts is None:
        return None
    coef = np.asarray(parts.classifier.coef_[0], dtype=float)
    width = len(parts.numeric)
    category_weights = []
    offset = width
    for categories in parts.encoder.categories_:
        block = coef[offset : offset + len(categories)]
        category_weights.append(dict(zip(categories.tolist(), block.tolist(), strict=True)))
        offset += len(categories)
    scaler = parts.scaler
    scorer = LinearScorer(
        numeric=tuple(parts.numeric),
        mean=np.asarray(scaler.mean_ if scaler.with_mean else np.zeros(width), dtype=float),
        scale=np.asarray(scaler.scale_ if scaler.with_std else np.ones(width), dtype=float),
        numeric_weights=coef[:width],
        categorical=tuple(parts.categorical),
        category_weights=tuple(category_weights),
        intercept=float(parts.classifier.intercept_[0]),
    )
    return scorer if _agrees(scorer, parts) else None


def _agrees(scorer: LinearScorer, parts: _Parts) -> bool:
    """Compare with the pipeline on every known category and a spread of numbers."""
    rows = max(len(c) for c in parts.encoder.categories_) * 4
    rng = np.random.default_rng(0)
    columns: dict[str, object] = {
        name: rng.normal(scorer.mean[i], scorer.scale[i] * 2, rows)
        for i, name in enumerate(parts.numeric)
    }
    for name, categories in zip(parts.categorical, parts.encoder.categories_, strict=True):
        columns[name] = [categories[i % len(categories)] for i in range(rows)]
    probe = pd.DataFrame(columns)
    try:
        expected = parts.pipeline.predict_proba(probe[list(parts.pipeline.feature_names_in_)])
    except (KeyError, ValueError, AttributeError):
        return False
    return bool(np.allclose(scorer.predict_proba(probe), expected, rtol=0, atol=TOLERANCE))

"""Loading the served model, its version and the statistics saved with it."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .scoring import compile_linear

# Written into an exported model folder so the API can report which version it serves.
EXPORT_MARKER = "registered_version.json"


class ModelLoadError(RuntimeError):
    """The configured model cannot be served; the message says what to do."""


class Classifier(Protocol):
    def predict_proba(self, features: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class LoadedModel:
    classifier: Classifier
    version: str
    reference_stats: dict[str, Any]


def _version(model_uri: str, local: Path, fallback: str) -> str:
    marker = local / EXPORT_MARKER
    if marker.is_file():
        return str(json.loads(marker.read_text(encoding="utf-8"))["version"])
    if model_uri.startswith("models:/") and "@" in model_uri:
        from mlflow import MlflowClient

        name, alias = model_uri.removeprefix("models:/").rsplit("@", 1)
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    if model_uri.startswith("models:/"):
        return model_uri.rsplit("/", 1)[-1]
    return fallback


def load(model_uri: str) -> LoadedModel:
    """Load an MLflow sklearn model from a local folder or a `models:/` URI."""
    import mlflow.artifacts
    import mlflow.sklearn
    from mlflow.models import Model

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
        meta = Model.load(local)
        pipeline = mlflow.sklearn.load_model(str(local))
        version = _version(model_uri, local, fallback=meta.run_id or "local")
    except Exception as exc:  # a corrupt model fails in many ways; all mean "cannot serve"
        raise ModelLoadError(
            f"cannot load model {model_uri!r}: {exc}. "
            "Train one with `make train`, or set MODEL_URI to an MLflow model folder."
        ) from exc
    reference = (meta.metadata or {}).get("reference_stats")
    if not isinstance(reference, dict):
        raise ModelLoadError(
            f"model {model_uri!r} carries no reference statistics for drift: "
            "retrain it with `make train`"
        )
    # The compiled scorer serves when it provably matches the pipeline (see scoring.py).
    return LoadedModel(compile_linear(pipeline) or pipeline, version, reference)

"""The model registry: logging and promoting a version, exporting it, loading it to serve.

Serving is the one variant with a registry and a champion; this module is where it
talks to MLflow's registry, so the training job only says what to record.
"""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from .platform.files import staged_directory
from .platform.tracking import Run, failed_thresholds
from .scoring import compile_linear

if TYPE_CHECKING:  # settings name the champion through this module
    from .settings import Settings

logger = logging.getLogger(__name__)

# Written into an exported model folder so the API can report which version it serves.
EXPORT_MARKER = "registered_version.json"
CHAMPION_ALIAS = "champion"


class ModelLoadError(RuntimeError):
    """The configured model cannot be served; the message says what to do."""


class Classifier(Protocol):
    def predict_proba(self, features: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class LoadedModel:
    classifier: Classifier
    version: str
    reference_stats: dict[str, Any]


def _version(model_uri: str, local: Path, fallback: str, tracking_uri: str | None) -> str:
    marker = local / EXPORT_MARKER
    if marker.is_file():
        return str(json.loads(marker.read_text(encoding="utf-8"))["version"])
    if model_uri.startswith("models:/") and "@" in model_uri:
        from mlflow import MlflowClient

        name, alias = model_uri.removeprefix("models:/").rsplit("@", 1)
        client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        return str(client.get_model_version_by_alias(name, alias).version)
    if model_uri.startswith("models:/"):
        return model_uri.rsplit("/", 1)[-1]
    return fallback


def champion_uri(model_name: str) -> str:
    """Registry URI of the model that serving should load."""
    return f"models:/{model_name}@{CHAMPION_ALIAS}"


def log_model(
    run: Run,
    pipeline: Any,
    model_name: str,
    *,
    example: pd.DataFrame,
    metadata: Mapping[str, Any],
    pip_requirements: list[str],
) -> str:
    """Log `pipeline` to `run` and register it as a new version of `model_name`."""
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    with run.active():
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(example, pipeline.predict_proba(example)[:, 1]),
            input_example=example.head(3),
            pip_requirements=pip_requirements,
            # skops loads without executing arbitrary code, unlike pickle.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            metadata=dict(metadata),
        )
    # Registered through the client: MLflow's fluent registration prints to stderr.
    client = MlflowClient()
    try:
        client.create_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(
        model_name, info.model_uri, run_id=run.id, model_id=info.model_id
    )
    return str(version.version)


def promote_if_passing(
    model_name: str,
    version: str,
    metrics: Mapping[str, float],
    minimums: Mapping[str, float],
) -> list[str]:
    """Give `version` the champion alias only when every threshold passes.

    Returns the failures (empty when promoted) so callers can report why not.
    """
    from mlflow import MlflowClient

    failures = failed_thresholds(metrics, minimums)
    client = MlflowClient()
    if failures:
        client.set_model_version_tag(model_name, version, "promotion", "rejected")
    else:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
        client.set_model_version_tag(model_name, version, "promotion", "champion")
    return failures


def fill_export(staging: Path, model_name: str, version: str) -> None:
    """Download a registered version into `staging`, marked with its version."""
    import mlflow.artifacts

    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{model_name}/{version}", dst_path=str(staging)
    )
    marker = {"model_name": model_name, "version": version}
    (staging / EXPORT_MARKER).write_text(json.dumps(marker), encoding="utf-8")


def export_model(model_name: str, version: str, target: Path) -> None:
    """Copy a registered version to `target` atomically; the old export stays until then."""
    with staged_directory(target) as staging:
        fill_export(staging, model_name, version)


def non_finite_parameters(estimator: object, path: str = "model") -> list[str]:
    """Fitted arrays (scikit-learn's trailing-underscore attributes) holding NaN or inf,
    in `estimator` and the estimators inside it: such a model answers nonsense."""
    found: list[str] = []
    for name, value in vars(estimator).items():
        where = f"{path}.{name}"
        if name.endswith("_") and isinstance(value, np.ndarray) and value.dtype.kind == "f":
            if not np.isfinite(value).all():
                found.append(where)
        elif hasattr(value, "get_params"):
            found += non_finite_parameters(value, where)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                for part in item if isinstance(item, tuple) else (item,):
                    if hasattr(part, "get_params"):
                        found += non_finite_parameters(part, f"{where}[{index}]")
    return found


def load(model_uri: str, tracking_uri: str | None = None) -> LoadedModel:
    """Load an MLflow sklearn model from a local folder or a `models:/` URI.

    `models:/` URIs resolve in `tracking_uri`'s registry: pass the settings' one, so a
    store named only in `.env` is the one every command reads (MLflow itself reads
    only the environment).
    """
    import mlflow
    import mlflow.artifacts
    import mlflow.sklearn
    from mlflow.models import Model

    if tracking_uri is not None:
        # MLflow resolves `models:/` aliases through its process-wide registry client,
        # whatever URI download_artifacts is given.
        mlflow.set_tracking_uri(tracking_uri)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
        meta = Model.load(local)
        pipeline = mlflow.sklearn.load_model(str(local))
        version = _version(model_uri, local, meta.run_id or "local", tracking_uri)
    except Exception as exc:  # a corrupt model fails in many ways; all mean "cannot serve"
        # The cause (SQL, absolute paths) goes to the log, not to clients of /ready.
        logger.warning("model load failed", extra={"model_uri": model_uri, "error": repr(exc)})
        raise ModelLoadError(
            f"cannot load model {model_uri!r} ({type(exc).__name__}). "
            "Train one with `make train`, or set MODEL_URI to an MLflow model folder."
        ) from exc
    broken = non_finite_parameters(pipeline)
    if broken:
        raise ModelLoadError(
            f"model {model_uri!r} has non-finite parameters ({', '.join(broken[:3])}): "
            "retrain it with `make train`"
        )
    reference = (meta.metadata or {}).get("reference_stats")
    if not isinstance(reference, dict):
        raise ModelLoadError(
            f"model {model_uri!r} carries no reference statistics for drift: "
            "retrain it with `make train`"
        )
    # The compiled scorer serves when it provably matches the pipeline (see scoring.py).
    return LoadedModel(compile_linear(pipeline) or pipeline, version, reference)


def load_served(settings: "Settings") -> LoadedModel:
    """The model the settings name (MODEL_URI, default the champion), from their store."""
    return load(settings.resolved_model_uri(), settings.mlflow_tracking_uri)

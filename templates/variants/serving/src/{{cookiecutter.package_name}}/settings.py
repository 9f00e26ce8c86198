"""Serving settings: the platform's, then one small class per concern.

Each class is a group of `.env.example` and of the README's configuration table;
the environment variable of a field is its name in capitals, whatever its class.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from .platform.config import PROJECT, ProjectSettings
from .registry import champion_uri


class PathSettings(BaseSettings):
    """Files: the training data, the exported champion and the results."""

    data_path: Path = Field(default=Path("data/churn.csv"), description="Training data (CSV).")
    export_dir: Path = Field(
        default=Path("models/champion"), description="Where the champion is exported."
    )
    results_dir: Path = Field(default=Path("results"), description="Where results files go.")


class TrainingSettings(BaseSettings):
    """Training and evaluation: the split, the model and its decision threshold."""

    test_size: float = Field(
        default=0.2, gt=0.0, lt=0.5, description="Share of rows held out for evaluation."
    )
    seed: int = Field(default=42, description="Seed for the split, the model and the bootstrap.")
    regularization_c: float = Field(
        default=1.0, gt=0.0, description="Inverse regularisation strength of the model."
    )
    # Below 0.5 on purpose: a missed churner costs more than a retention offer (ADR 0005).
    decision_threshold: float = Field(
        default=0.3, gt=0.0, lt=1.0, description="Probability at or above which churn is true."
    )
    bootstrap_samples: int = Field(
        default=1000, ge=100, description="Resamples behind every confidence interval."
    )


class PromotionGates(BaseSettings):
    """Promotion: a model becomes champion only if it clears these on held-out data."""

    min_roc_auc: float = Field(
        default=0.70, ge=0.0, le=1.0, description="Promotion threshold on held-out ROC AUC."
    )
    min_auc_lift_over_baseline: float = Field(
        default=0.10, ge=0.0, le=1.0, description="ROC AUC gain over the baseline for promotion."
    )


class ServedModelSettings(BaseSettings):
    """The served model: which registered model, or which folder."""

    model_name: str = Field(
        default=PROJECT,
        min_length=1,
        description="Registered model name; the served model is its `champion` alias.",
    )
    model_uri: str | None = Field(
        default=None,
        description="Model to serve: a local MLflow model folder or a models:/ URI; "
        "unset, models:/<MODEL_NAME>@champion.",
    )


class DriftSettings(BaseSettings):
    """Drift monitoring: the window of live inputs and when a feature counts as drifted."""

    drift_window: int = Field(
        default=500, ge=50, description="Recent inputs the API keeps for drift."
    )
    drift_rows_per_request: int = Field(
        default=5, ge=1, description="Rows of one request (sampled) that enter the drift window."
    )
    drift_psi_alert: float = Field(
        default=0.2, gt=0.0, description="PSI above which a feature counts as drifted."
    )


# Listed last concern first: fields are ordered from the last base to the first.
class Settings(
    DriftSettings,
    ServedModelSettings,
    PromotionGates,
    TrainingSettings,
    PathSettings,
    ProjectSettings,
):
    """Serving: the platform's settings and the service's own, by concern."""

    def resolved_model_uri(self) -> str:
        return self.model_uri or champion_uri(self.model_name)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read settings once per process."""
    return Settings()

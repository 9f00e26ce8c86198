"""Serving settings: the shared project settings plus training and API knobs."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from .config import ProjectSettings
from .tracking import champion_uri


class Settings(ProjectSettings):
    """Every value can be set by an environment variable of the same name."""

    data_path: Path = Path("data/churn.csv")
    test_size: float = Field(default=0.2, gt=0.0, lt=0.5)
    seed: int = 42
    regularization_c: float = Field(default=1.0, gt=0.0)
    # Below 0.5 on purpose: a missed churner costs more than a retention offer (ADR 0005).
    decision_threshold: float = Field(default=0.3, gt=0.0, lt=1.0)
    bootstrap_samples: int = Field(default=1000, ge=100)
    # A model becomes champion only if it clears these on the held-out split.
    min_roc_auc: float = Field(default=0.70, ge=0.0, le=1.0)
    min_auc_lift_over_baseline: float = Field(default=0.10, ge=0.0, le=1.0)
    model_uri: str | None = Field(
        default=None,
        description="A local MLflow model folder or a models:/ URI; default: the champion.",
    )
    export_dir: Path = Path("models/champion")
    results_dir: Path = Path("results")
    drift_window: int = Field(default=500, ge=50)
    drift_rows_per_request: int = Field(
        default=5, ge=1, description="Rows of one request (sampled) that enter the drift window."
    )
    drift_psi_alert: float = Field(default=0.2, gt=0.0)

    def resolved_model_uri(self) -> str:
        return self.model_uri or champion_uri(self.model_name)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read settings once per process."""
    return Settings()

"""Settings every entry point shares, read once from the environment and `.env`.

Variables carry no prefix so that `MLFLOW_TRACKING_URI` means the same thing to
this project and to MLflow itself: one setting switches both to a tracking server.
"""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
PROJECT = "{{ cookiecutter.project_slug }}"


class ProjectSettings(BaseSettings):
    """Tracking, registry and HTTP settings that every command shares."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        protected_namespaces=(),
    )

    mlflow_tracking_uri: str = Field(
        default="sqlite:///mlflow.db",
        min_length=1,
        description="Where runs and the model registry live: a local SQLite file, or a "
        "tracking server such as http://localhost:5000 (`docker compose up`).",
    )
    experiment_name: str = Field(
        default=PROJECT, min_length=1, description="MLflow experiment the runs are grouped under."
    )
    log_level: LogLevel = Field(
        default="INFO", description="Level of the JSON logs; DEBUG also shows tracebacks."
    )
    api_host: str = Field(
        default="127.0.0.1",
        description="Bind address; the container sets 0.0.0.0, a laptop stays on loopback.",
    )
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    api_workers: int = Field(
        default=1, ge=1, le=64, description="uvicorn worker processes, each with its own model."
    )
    metrics_enabled: bool = Field(
        default=True, description="Prometheus request metrics and GET /metrics."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Larger request bodies are refused with 413."
    )
    max_concurrent_requests: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Requests served at once by each worker; more get an immediate 503.",
    )
    max_connections: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Open connections each worker keeps; beyond it new requests get 503 "
        "before they are read (idle connections count too).",
    )
    client_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="A client silent this long (idle connection, stalled body) is dropped.",
    )

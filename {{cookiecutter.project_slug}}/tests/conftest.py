"""Fixtures every variant's tests share: no network, a private MLflow store per test."""

import os
from pathlib import Path

import pytest

# Set before anything imports MLflow or Hugging Face libraries: tests never reach the network.
os.environ.update(
    {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GIT_PYTHON_REFRESH": "quiet",
    }
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Each variant ships tests/variant_fixtures.py with the fixtures of its own domain.
pytest_plugins = ["variant_fixtures"]


@pytest.fixture(autouse=True)
def isolated_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in its own folder with its own SQLite tracking store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in ("MODEL_URI", "MODEL_NAME", "EXPERIMENT_NAME", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

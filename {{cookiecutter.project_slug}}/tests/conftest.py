"""Fixtures every variant's tests share: no network, a private MLflow store per test."""

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from run_cache import built_once

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


def _migrated_store(folder: Path) -> Path:
    from mlflow import MlflowClient

    path = folder / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow store, its schema migrated once per test run: a new SQLite store
    runs every migration (seconds each time), a copy of this one takes milliseconds."""
    return built_once(tmp_path_factory, "empty-store", _migrated_store)


@pytest.fixture(scope="session")
def new_store(empty_store: Path) -> Callable[[Path], Path]:
    """Put a copy of the empty store at `<folder>/mlflow.db`, where the variants' settings
    helpers point MLflow: a run there starts on a new store without migrating one."""

    def place(folder: Path) -> Path:
        store = folder / "mlflow.db"
        shutil.copyfile(empty_store, store)
        return store

    return place


@pytest.fixture(autouse=True)
def isolated_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path) -> Path:
    """Run each test in its own folder with its own SQLite tracking store."""
    monkeypatch.chdir(tmp_path)
    # Beside the folder, not in it: tests see exactly the files the code wrote.
    store = tmp_path.with_name(f"{tmp_path.name}-mlflow.db")
    shutil.copyfile(empty_store, store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    for name in ("MODEL_URI", "MODEL_NAME", "EXPERIMENT_NAME", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def command_log_closed() -> Iterator[None]:
    """A command's log file ends with its test: the next test's runs must not keep it."""
    yield
    for logger in (logging.getLogger(), logging.getLogger("mlflow")):
        for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(handler)
            handler.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

"""Fixtures of the serving variant: the bundled data and one model trained per test run."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import registry
from {{ cookiecutter.package_name }}.dataset import generate
from {{ cookiecutter.package_name }}.drift import reference
from {{ cookiecutter.package_name }}.schema import FEATURES
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.train import TrainResult, train

from run_cache import built_once

BUNDLED_DATA = Path(__file__).resolve().parents[1] / "data" / "churn.csv"


@dataclass(frozen=True)
class Trained:
    settings: Settings
    result: TrainResult
    workdir: Path


def training_settings(workdir: Path, **overrides: object) -> Settings:
    """Settings that keep every output of a run inside `workdir`."""
    values: dict[str, object] = {
        "data_path": BUNDLED_DATA,
        "mlflow_tracking_uri": f"sqlite:///{workdir / 'mlflow.db'}",
        "export_dir": workdir / "models" / "champion",
        "results_dir": workdir / "results",
        "bootstrap_samples": 200,
        **overrides,
    }
    return Settings.model_validate(values)


def _trained(workdir: Path, new_store: Callable[[Path], Path]) -> Trained:
    new_store(workdir)
    with contextlib.chdir(workdir):  # MLflow puts artifacts beside the working directory
        settings = training_settings(workdir)
        return Trained(settings, train(settings), workdir)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, new_store: Callable[[Path], Path]) -> Trained:
    """Train once per test run on the bundled data; tests read, never mutate, its outputs."""
    return built_once(tmp_path_factory, "trained", lambda folder: _trained(folder, new_store))


@pytest.fixture
def accounts() -> pd.DataFrame:
    """A small labelled sample from the same process as the bundled data."""
    return generate(400, seed=3)


ACCOUNT: dict[str, Any] = {
    "tenure_months": 3,
    "monthly_charges": 89.5,
    "support_calls": 4,
    "contract": "month-to-month",
    "payment_method": "electronic-check",
    "has_internet": True,
}


class TenureModel:
    """A transparent stand-in: churn probability falls with tenure."""

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        assert list(features.columns) == list(FEATURES)
        p = 1 / (1 + features["tenure_months"].to_numpy(dtype=float))
        return np.column_stack([1 - p, p])


def fake_model(accounts: pd.DataFrame) -> registry.LoadedModel:
    return registry.LoadedModel(TenureModel(), "7", reference(accounts[list(FEATURES)]))

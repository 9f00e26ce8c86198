import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import registry
from {{ cookiecutter.package_name }}.platform.config import ProjectSettings
from {{ cookiecutter.package_name }}.platform.tracking import configure

from variant_fixtures import Trained


def test_missing_local_model_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(registry.ModelLoadError, match="make train"):
        registry.load(str(tmp_path / "nothing-here"))


def test_missing_registered_model_says_how_to_train() -> None:
    with pytest.raises(registry.ModelLoadError, match="make train"):
        registry.load(registry.champion_uri("never-trained"))


@pytest.mark.slow
def test_champion_loads_from_the_registry(trained: Trained) -> None:
    import mlflow

    mlflow.set_tracking_uri(trained.settings.mlflow_tracking_uri)
    loaded = registry.load(registry.champion_uri(trained.settings.model_name))

    assert loaded.version == trained.result.model_version
    assert set(loaded.reference_stats["numeric"]) == {
        "tenure_months",
        "monthly_charges",
        "support_calls",
    }


@pytest.mark.slow
def test_model_without_reference_statistics_is_refused(trained: Trained, tmp_path: Path) -> None:
    from mlflow.models import Model

    copy = tmp_path / "model"
    shutil.copytree(trained.settings.export_dir, copy)
    meta = Model.load(copy)
    meta.metadata = None
    meta.save(copy / "MLmodel")

    with pytest.raises(registry.ModelLoadError, match="no reference statistics"):
        registry.load(str(copy))


def test_corrupt_model_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("{not: [valid")

    with pytest.raises(registry.ModelLoadError, match="cannot load model"):
        registry.load(str(tmp_path))


@pytest.mark.slow
def test_a_model_with_nan_weights_is_refused_naming_them(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.sklearn

    real_load = mlflow.sklearn.load_model

    def poisoned(uri: str) -> object:
        pipeline = real_load(uri)
        pipeline[-1].coef_ = np.full_like(pipeline[-1].coef_, np.nan)
        return pipeline

    monkeypatch.setattr(mlflow.sklearn, "load_model", poisoned)

    with pytest.raises(registry.ModelLoadError, match=r"non-finite parameters \(model\.steps"):
        registry.load(str(trained.settings.export_dir))


@pytest.mark.slow
def test_a_trained_model_has_only_finite_parameters(trained: Trained) -> None:
    import mlflow.sklearn

    pipeline = mlflow.sklearn.load_model(str(trained.settings.export_dir))

    assert registry.non_finite_parameters(pipeline) == []


def _register_version(name: str) -> str:
    configure(ProjectSettings())
    client = MlflowClient()
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    with mlflow.start_run() as run:
        mlflow.log_text("weights", "model/weights.txt")
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    return str(version.version)


def test_champion_alias_moves_only_when_thresholds_pass() -> None:
    client_name = "demo"
    good = _register_version(client_name)
    assert registry.promote_if_passing(client_name, good, {"auc": 0.9}, {"auc": 0.8}) == []
    bad = _register_version(client_name)

    failures = registry.promote_if_passing(client_name, bad, {"auc": 0.5}, {"auc": 0.8})

    client = MlflowClient()
    assert failures == ["auc=0.5000 is below the minimum 0.8000"]
    assert str(client.get_model_version_by_alias(client_name, "champion").version) == good
    assert client.get_model_version(client_name, bad).tags["promotion"] == "rejected"


@pytest.mark.parametrize("name", ["churn", "my-model"])
def test_champion_uri_uses_the_alias(name: str) -> None:
    assert registry.champion_uri(name) == f"models:/{name}@champion"

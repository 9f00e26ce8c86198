import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import registry, train
from {{ cookiecutter.package_name }}.dataset import DataError

from variant_fixtures import Trained, training_settings


@pytest.mark.slow
def test_trained_model_beats_the_baseline_with_confidence(trained: Trained) -> None:
    metrics, baseline = trained.result.metrics, trained.result.baseline_metrics

    assert metrics["roc_auc"].low > baseline["roc_auc"].high
    assert metrics["roc_auc"].value > 0.75
    assert metrics["brier"].high < baseline["brier"].low


@pytest.mark.slow
def test_passing_model_is_champion_and_exported(trained: Trained) -> None:
    settings = trained.settings
    client = MlflowClient(settings.mlflow_tracking_uri)

    champion = client.get_model_version_by_alias(settings.model_name, "champion")

    assert trained.result.promoted
    assert str(champion.version) == trained.result.model_version
    exported = registry.load(str(settings.export_dir))
    assert exported.version == trained.result.model_version


@pytest.mark.slow
def test_run_records_lineage_metrics_and_requirements(trained: Trained) -> None:
    client = MlflowClient(trained.settings.mlflow_tracking_uri)
    run = client.get_run(trained.result.run_id)

    assert len(run.data.tags["data_sha256.train"]) == 64
    assert "git_commit" in run.data.tags
    assert run.data.params["regularization_c"] == "1.0"
    for name in ("test_roc_auc", "test_roc_auc_ci_low", "test_roc_auc_ci_high", "baseline_roc_auc"):
        assert name in run.data.metrics
    requirements = (trained.settings.export_dir / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements
    assert "skops==" in requirements  # the format the model is saved in


@pytest.mark.slow
def test_results_file_matches_the_run(trained: Trained) -> None:
    results = json.loads((trained.settings.results_dir / "metrics.json").read_text())

    assert results["run_id"] == trained.result.run_id
    assert results["promoted"] is True
    assert results["metrics"]["roc_auc"]["value"] == trained.result.metrics["roc_auc"].value


@pytest.mark.slow
def test_model_failing_thresholds_is_not_promoted_and_export_is_kept(
    trained: Trained, tmp_path: Path, new_store: Callable[[Path], Path]
) -> None:
    new_store(tmp_path)
    export = tmp_path / "champion"
    export.mkdir()
    (export / "sentinel").write_text("previous champion")
    settings = training_settings(tmp_path, min_roc_auc=0.99, export_dir=export)

    result = train.train(settings)

    client = MlflowClient(settings.mlflow_tracking_uri)
    assert not result.promoted
    assert result.failures == [
        f"roc_auc={result.metrics['roc_auc'].value:.4f} is below the minimum 0.9900"
    ]
    assert client.get_registered_model(settings.model_name).aliases == {}
    assert (export / "sentinel").read_text() == "previous champion"


def test_unreadable_data_stops_before_any_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n")

    with pytest.raises(DataError, match="missing column"):
        train.train(training_settings(tmp_path, data_path=bad))

    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_failed_export_leaves_the_previous_export_whole(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "champion"
    target.mkdir()
    (target / "MLmodel").write_text("previous")

    def broken_download(**_: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr("mlflow.artifacts.download_artifacts", broken_download)
    with pytest.raises(OSError, match="disk full"):
        registry.export_model(trained.settings.model_name, trained.result.model_version, target)

    assert (target / "MLmodel").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["champion"]


@pytest.mark.slow
def test_a_failed_export_moves_neither_the_alias_nor_the_results(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy of the trained store, its champion export and results: the state before.
    shutil.copy(trained.workdir / "mlflow.db", tmp_path / "mlflow.db")
    shutil.copytree(trained.settings.export_dir, tmp_path / "models" / "champion")
    shutil.copytree(trained.settings.results_dir, tmp_path / "results")
    results_before = (tmp_path / "results" / "metrics.json").read_text()
    settings = training_settings(tmp_path)

    def full_disk(**_: object) -> str:
        raise OSError("No space left on device")

    monkeypatch.setattr("mlflow.artifacts.download_artifacts", full_disk)
    with pytest.raises(OSError, match="No space left"):
        train.train(settings)

    client = MlflowClient(settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    assert str(champion.version) == trained.result.model_version
    assert (tmp_path / "results" / "metrics.json").read_text() == results_before
    marker = json.loads((settings.export_dir / registry.EXPORT_MARKER).read_text())
    assert marker["version"] == trained.result.model_version
    experiment = client.get_experiment_by_name(settings.experiment_name)
    assert experiment is not None
    newest = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )[0]
    assert newest.info.status == "FAILED"
    assert not [
        p.name for p in tmp_path.rglob(".*") if p.name.startswith((".champion", ".metrics"))
    ]


def test_data_with_one_outcome_stops_before_any_run_naming_the_file(tmp_path: Path) -> None:
    from {{ cookiecutter.package_name }}.dataset import generate, write_csv

    rows = generate(200, seed=1)
    data = tmp_path / "one-class.csv"
    write_csv(rows[rows["churned"] == 0].head(10), data)

    with pytest.raises(DataError, match=r"one-class\.csv: 10 rows, 10 with churned=0 and 0 with"):
        train.train(training_settings(tmp_path, data_path=data))

    assert not (tmp_path / "mlflow.db").exists()

import os
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.config import ProjectSettings


def test_file_hash_changes_with_content(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    before = tracking.file_sha256(data)
    data.write_text("a,b\n1,3\n")

    assert tracking.file_sha256(data) != before
    assert len(before) == 64


def test_git_commit_is_unknown_outside_a_repository(tmp_path: Path) -> None:
    assert tracking.git_commit(tmp_path) == "unknown"


def test_git_commit_names_head_inside_a_repository(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "f").write_text("x")
    git("add", "f")
    git("commit", "-qm", "init")

    assert tracking.git_commit(tmp_path) == git("rev-parse", "HEAD")


def test_failed_thresholds_name_missing_and_low_metrics() -> None:
    failures = tracking.failed_thresholds(
        {"roc_auc": 0.61, "f1": 0.9}, {"roc_auc": 0.7, "f1": 0.5, "recall": 0.2}
    )

    assert failures == [
        "recall was not measured (minimum 0.2000)",
        "roc_auc=0.6100 is below the minimum 0.7000",
    ]


def test_tracked_run_records_params_data_hash_and_commit(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")

    with tracking.tracked_run(ProjectSettings(), "unit", {"alpha": 0.5}, {"train": data}) as run_id:
        mlflow.log_metric("score", 1.0)

    run = MlflowClient().get_run(run_id)
    assert run.data.params == {"alpha": "0.5"}
    assert run.data.tags["data_sha256.train"] == tracking.file_sha256(data)
    assert run.data.tags["git_commit"]
    assert run.data.metrics == {"score": 1.0}


def _register_version(name: str) -> str:
    tracking.configure(ProjectSettings())
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
    assert tracking.promote_if_passing(client_name, good, {"auc": 0.9}, {"auc": 0.8}) == []
    bad = _register_version(client_name)

    failures = tracking.promote_if_passing(client_name, bad, {"auc": 0.5}, {"auc": 0.8})

    client = MlflowClient()
    assert failures == ["auc=0.5000 is below the minimum 0.8000"]
    assert str(client.get_model_version_by_alias(client_name, "champion").version) == good
    assert client.get_model_version(client_name, bad).tags["promotion"] == "rejected"


@pytest.mark.parametrize("name", ["churn", "my-model"])
def test_champion_uri_uses_the_alias(name: str) -> None:
    assert tracking.champion_uri(name) == f"models:/{name}@champion"


def test_a_run_left_running_by_a_killed_process_is_ended_killed(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    settings = ProjectSettings()
    with tracking.tracked_run(settings, "first", {}, {"train": data}):
        pass
    experiment = mlflow.get_experiment_by_name(settings.experiment_name)
    assert experiment is not None
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    client = MlflowClient()
    tags = {tracking.HOST_TAG: socket.gethostname()}
    killed = client.create_run(
        experiment.experiment_id, tags={**tags, tracking.PID_TAG: str(finished.pid)}
    )
    alive = client.create_run(
        experiment.experiment_id, tags={**tags, tracking.PID_TAG: str(os.getpid())}
    )

    with tracking.tracked_run(settings, "next", {}, {"train": data}) as run_id:
        pass

    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_run_whose_code_raises_ends_failed(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    started: list[str] = []

    def interrupted_job() -> None:
        with tracking.tracked_run(ProjectSettings(), "unit", {}, {"train": data}) as run_id:
            started.append(run_id)
            raise RuntimeError("out of disk")

    with pytest.raises(RuntimeError, match="out of disk"):
        interrupted_job()

    assert MlflowClient().get_run(started[0]).info.status == "FAILED"

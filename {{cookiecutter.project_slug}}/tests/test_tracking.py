import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }}.platform import tracking
from {{ cookiecutter.package_name }}.platform.config import ProjectSettings
from {{ cookiecutter.package_name }}.platform.logs import configure_logging


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

    with tracking.tracked_run(ProjectSettings(), "unit", {"alpha": 0.5}, {"train": data}) as handle:
        mlflow.log_metric("score", 1.0)

    run = MlflowClient().get_run(handle.id)
    assert run.data.params == {"alpha": "0.5"}
    assert run.data.tags["data_sha256.train"] == tracking.file_sha256(data)
    assert run.data.tags["git_commit"]
    assert run.data.metrics == {"score": 1.0}


def test_run_handle_records_params_metrics_tags_text_and_files(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w")
    many = {f"p{i}": i for i in range(tracking.BATCH_LIMIT + 5)}

    with tracking.tracked_run(ProjectSettings(), "unit", {}, {"train": data}) as run:
        run.log_params(many)
        run.log_metrics({"loss": 2.0}, step=1)
        run.log_metrics({"loss": 1.0}, step=2)
        run.set_tags({"promotion": "exported"})
        run.log_text("| a |", "failures.md")
        run.log_artifact(data, "inputs")
        run.log_artifact(folder, "adapter")

    client = MlflowClient()
    recorded = client.get_run(run.id)
    history = [(m.step, m.value) for m in client.get_metric_history(run.id, "loss")]
    files = {a.path for a in client.list_artifacts(run.id)}
    assert len(recorded.data.params) == len(many)
    assert sorted(history) == [(1, 2.0), (2, 1.0)]
    assert recorded.data.tags["promotion"] == "exported"
    assert files == {"adapter", "failures.md", "inputs"}
    assert [a.path for a in client.list_artifacts(run.id, "adapter")] == ["adapter/weights.bin"]
    assert run.lineage()["data_sha256.train"] == tracking.file_sha256(data)


def test_a_child_run_is_finished_under_its_parent_and_fails_when_logging_fails(
    tmp_path: Path,
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    with tracking.tracked_run(ProjectSettings(), "grid", {}, {"train": data}) as run:
        child = run.log_child("fixed-bm25", {"retriever": "bm25"}, {"ndcg": 0.5}, run.lineage())
        with pytest.raises(ValueError, match="not a number"):
            run.log_child("broken", {}, {"ndcg": "not a number"})  # type: ignore[dict-item]

    client = MlflowClient()
    recorded = client.get_run(child)
    children = client.search_runs(
        [run.experiment_id], f"tags.mlflow.parentRunId = '{run.id}'", order_by=["start_time"]
    )
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params == {"retriever": "bm25"}
    assert recorded.data.metrics == {"ndcg": 0.5}
    assert recorded.data.tags["data_sha256.train"] == tracking.file_sha256(data)
    assert [c.info.status for c in children] == ["FINISHED", "FAILED"]


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

    with tracking.tracked_run(settings, "next", {}, {"train": data}) as run:
        pass

    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    assert client.get_run(run.id).info.status == "FINISHED"


def test_a_run_whose_code_raises_ends_failed(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    started: list[str] = []

    def interrupted_job() -> None:
        with tracking.tracked_run(ProjectSettings(), "unit", {}, {"train": data}) as run:
            started.append(run.id)
            raise RuntimeError("out of disk")

    with pytest.raises(RuntimeError, match="out of disk"):
        interrupted_job()

    assert MlflowClient().get_run(started[0]).info.status == "FAILED"


def test_a_failed_run_keeps_the_command_log(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    log_file = tmp_path / "logs" / "train.log"
    configure_logging("INFO", log_file)
    started: list[str] = []

    def diverging_job() -> None:
        with tracking.tracked_run(ProjectSettings(), "unit", {}, {"train": data}) as run:
            started.append(run.id)
            logging.getLogger("project").info("loss went to nan at step 7")
            raise RuntimeError("diverged")

    try:
        with pytest.raises(RuntimeError, match="diverged"):
            diverging_job()
    finally:
        configure_logging("INFO")

    kept = MlflowClient().download_artifacts(started[0], "logs/train.log", str(tmp_path))
    assert "loss went to nan at step 7" in Path(kept).read_text()

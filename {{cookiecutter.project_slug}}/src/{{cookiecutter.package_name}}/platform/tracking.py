"""MLflow at the edge: a run handle, lineage tags and the end of abandoned runs.

Jobs record what they did through `Run`, never through `mlflow` itself: the training
code stays a set of pure functions, and tests point the whole project at a temporary
store. The model registry is the serving variant's own (its `registry.py`).
"""

import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from .config import ProjectSettings
from .files import process_alive
from .logs import current_log_file

# Which process runs a run, so a run left RUNNING by a killed process can be ended.
HOST_TAG = "process.host"
PID_TAG = "process.pid"
# MLflow refuses a batch of more than 100 params or tags (1,000 metrics).
BATCH_LIMIT = 100


def file_sha256(path: Path) -> str:
    """Content hash of a data file, logged so a run names exactly what it saw."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(cwd: Path | None = None) -> str:
    """The commit the code was run from, or "unknown" outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def configure(settings: ProjectSettings) -> None:
    """Point MLflow at the configured store and experiment."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.experiment_name)


def end_abandoned_runs(experiment_id: str) -> list[str]:
    """Mark KILLED the runs still RUNNING whose process, on this machine, is gone.

    MLflow ends a run as FAILED when the code raises, but a process killed outright
    (kill -9, out of memory) leaves it RUNNING forever.
    """
    client = MlflowClient()
    host = socket.gethostname()
    ended = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'"):
        pid = run.data.tags.get(PID_TAG, "")
        if run.data.tags.get(HOST_TAG) == host and pid.isdigit() and not process_alive(int(pid)):
            client.set_terminated(run.info.run_id, status="KILLED")
            ended.append(run.info.run_id)
    return ended


@dataclass(frozen=True)
class Run:
    """One tracked run: what a job may record, without importing MLflow itself."""

    id: str
    experiment_id: str

    def _client(self) -> MlflowClient:
        return MlflowClient()

    def log_params(self, params: Mapping[str, object]) -> None:
        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), BATCH_LIMIT):
            self._client().log_batch(self.id, params=items[start : start + BATCH_LIMIT])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for start in range(0, len(items), BATCH_LIMIT):
            self._client().log_batch(self.id, metrics=items[start : start + BATCH_LIMIT])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        items = [RunTag(k, v) for k, v in tags.items()]
        for start in range(0, len(items), BATCH_LIMIT):
            self._client().log_batch(self.id, tags=items[start : start + BATCH_LIMIT])

    def log_text(self, text: str, artifact_file: str) -> None:
        self._client().log_text(self.id, text, artifact_file)

    def log_dict(self, value: Any, artifact_file: str) -> None:
        self._client().log_dict(self.id, value, artifact_file)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """A file, or a folder's files, under `folder` of the run's artifacts."""
        if path.is_dir():
            self._client().log_artifacts(self.id, str(path), folder)
        else:
            self._client().log_artifact(self.id, str(path), folder)

    @contextmanager
    def active(self) -> Iterator[None]:
        """This run as MLflow's active run, for library calls that log to the active one."""
        current = mlflow.active_run()
        if current is not None and current.info.run_id == self.id:
            yield
            return
        with mlflow.start_run(run_id=self.id):
            yield

    def lineage(self) -> dict[str, str]:
        """The run's own tags (git commit, data hashes, process), MLflow's left out."""
        tags = self._client().get_run(self.id).data.tags
        return {k: v for k, v in tags.items() if not k.startswith("mlflow.")}

    def log_child(
        self,
        name: str,
        params: Mapping[str, object],
        metrics: Mapping[str, float],
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """A finished child run, filled in one batch; it ends FAILED if logging fails."""
        client = self._client()
        child_tags = {**(tags or {}), MLFLOW_PARENT_RUN_ID: self.id}
        child = client.create_run(self.experiment_id, run_name=name, tags=child_tags)
        handle = Run(child.info.run_id, self.experiment_id)
        try:
            handle.log_params(params)
            handle.log_metrics(metrics)
        except BaseException:
            client.set_terminated(handle.id, RunStatus.to_string(RunStatus.FAILED))
            raise
        client.set_terminated(handle.id)
        return handle.id


@contextmanager
def tracked_run(
    settings: ProjectSettings,
    run_name: str,
    params: Mapping[str, object],
    data_files: Mapping[str, Path],
) -> Iterator["Run"]:
    """Start a run that records params, the data's hashes and the git commit; yield it.

    An exception ends the run FAILED; runs of killed processes are ended KILLED first.
    The log file of the command, when it writes one, is kept as the run's `logs/`.
    """
    configure(settings)
    experiment = mlflow.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        end_abandoned_runs(experiment.experiment_id)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(dict(params))
        mlflow.set_tags(
            {
                "git_commit": git_commit(),
                HOST_TAG: socket.gethostname(),
                PID_TAG: str(os.getpid()),
                **{f"data_sha256.{name}": file_sha256(path) for name, path in data_files.items()},
            }
        )
        handle = Run(run.info.run_id, run.info.experiment_id)
        try:
            yield handle
        finally:
            # The command's whole log stays with the run, a failed one's above all.
            log_file = current_log_file()
            if log_file is not None and log_file.is_file():
                handle.log_artifact(log_file, "logs")


def failed_thresholds(metrics: Mapping[str, float], minimums: Mapping[str, float]) -> list[str]:
    """Describe each metric that is missing or below its minimum; empty means promotable."""
    failures = []
    for name, minimum in sorted(minimums.items()):
        value = metrics.get(name)
        if value is None:
            failures.append(f"{name} was not measured (minimum {minimum:.4f})")
        elif value < minimum:
            failures.append(f"{name}={value:.4f} is below the minimum {minimum:.4f}")
    return failures

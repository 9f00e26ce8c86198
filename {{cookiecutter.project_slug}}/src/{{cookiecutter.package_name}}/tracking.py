"""MLflow at the edge: run bookkeeping, lineage tags and champion promotion.

Everything that talks to MLflow lives here so the training code stays a set of
pure functions, and so tests can point the whole project at a temporary store.
"""

import hashlib
import os
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from .config import ProjectSettings
from .files import process_alive

CHAMPION_ALIAS = "champion"
# Which process runs a run, so a run left RUNNING by a killed process can be ended.
HOST_TAG = "process.host"
PID_TAG = "process.pid"


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


@contextmanager
def tracked_run(
    settings: ProjectSettings,
    run_name: str,
    params: Mapping[str, object],
    data_files: Mapping[str, Path],
) -> Iterator[str]:
    """Start a run that records params, the data's hashes and the git commit; yield its id.

    An exception ends the run FAILED; runs of killed processes are ended KILLED first.
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
        yield run.info.run_id


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


def promote_if_passing(
    model_name: str,
    version: str,
    metrics: Mapping[str, float],
    minimums: Mapping[str, float],
) -> list[str]:
    """Give `version` the champion alias only when every threshold passes.

    Returns the failures (empty when promoted) so callers can report why not.
    """
    failures = failed_thresholds(metrics, minimums)
    client = MlflowClient()
    if failures:
        client.set_model_version_tag(model_name, version, "promotion", "rejected")
    else:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
        client.set_model_version_tag(model_name, version, "promotion", "champion")
    return failures


def champion_uri(model_name: str) -> str:
    """Registry URI of the model that serving should load."""
    return f"models:/{model_name}@{CHAMPION_ALIAS}"

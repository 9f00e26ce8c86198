"""Each generated project tracks its runs on a real MLflow tracking server, and the
serving project serves the champion it registered there.

The server is the project's own `mlflow server` (from its `train` group), started
with the very arguments of compose.yaml's `mlflow` service: only the host port and
the container's paths are swapped for this machine's. What the project does with
`MLFLOW_TRACKING_URI=http://127.0.0.1:<port>` is then read back from the server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from support import (
    TINY_TRAIN,
    call,
    free_port,
    install_with_local_torch,
    make,
    poll,
    project_env,
    running_api,
)

READ_BACK = """
import json, sys
from mlflow import MlflowClient
client = MlflowClient(sys.argv[1])
name = sys.argv[2]
champion = client.get_model_version_by_alias(name, "champion")
run = client.get_run(champion.run_id)
artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
print(json.dumps({"version": champion.version, "status": run.info.status,
    "metrics": sorted(run.data.metrics), "artifacts": artifacts,
    "tags": sorted(run.data.tags)}))
"""
# Every run of the project's experiment: status, metric names, top-level artifacts.
READ_BACK_RUNS = """
import json, sys
from mlflow import MlflowClient
client = MlflowClient(sys.argv[1])
experiment = client.get_experiment_by_name(sys.argv[2])
runs = client.search_runs([experiment.experiment_id])
print(json.dumps([{"status": run.info.status, "metrics": sorted(run.data.metrics),
    "artifacts": [a.path for a in client.list_artifacts(run.info.run_id)]}
    for run in runs]))
"""
# What each variant runs to track its work, and the settings that keep it quick here
# (the hashing embedder for rag, the tiny model for fine-tuning).
TRACKED_WORK = {
    "rag": (("ingest", "evaluate"), {"EMBEDDING_MODEL": "hashing"}),
    "fine-tuning": (("train",), TINY_TRAIN),
}


class Tracked(NamedTuple):
    """A baked, installed project and the tracking server it is pointed at."""

    variant: str
    project: Path
    uri: str
    torch_env: dict[str, str]


def server_arguments(project: Path, state: Path, port: int) -> list[str]:
    """compose.yaml's `mlflow server` command, with this machine's port and paths."""
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))
    command: list[str] = compose["services"]["mlflow"]["command"]
    mounted = compose["services"]["mlflow"]["volumes"][0].split(":", 1)[1]
    here = {f"{mounted}/": f"{state}/", "5000": str(port), "0.0.0.0": "127.0.0.1"}  # noqa: S104
    arguments = []
    for argument in command[1:]:
        for theirs, ours in here.items():
            argument = argument.replace(theirs, ours)  # noqa: PLW2901
        arguments.append(argument)
    return arguments


@pytest.fixture
def tracking_server(
    fresh_bake: Callable[[Mapping[str, str]], Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Tracked]:
    variant = getattr(request, "param", "serving")
    project = fresh_bake({"variant": variant, "init_git": "no"})
    torch_env = install_with_local_torch(project)
    if not torch_env:
        make(project, "install", offline=False)
    state, port = tmp_path / "server", free_port()
    state.mkdir()
    arguments = server_arguments(project, state, port)
    assert f"--backend-store-uri=sqlite:///{state}/mlflow.db" in arguments
    server = subprocess.Popen(
        [str(project / ".venv" / "bin" / "mlflow"), *arguments],
        cwd=tmp_path,
        env=project_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        up = poll(f"{uri}/health", lambda status, _: status == 200, 120)
        assert up[0] == 200, "mlflow server never answered /health"
        yield Tracked(variant, project, uri, torch_env)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _read_back(project: Path, script: str, uri: str) -> object:
    read_back = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", script, uri, project.name],
        env=project_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(read_back.stdout.strip().splitlines()[-1])


def test_training_lands_on_the_server_and_the_api_serves_its_champion(
    tracking_server: Tracked,
) -> None:
    _, project, uri, _ = tracking_server
    on_server = {"MLFLOW_TRACKING_URI": uri}

    trained = make(project, "train", extra_env=on_server)
    recorded = _read_back(project, READ_BACK, uri)
    assert isinstance(recorded, dict)
    (project / "models").rename(project / "models.local")  # serve from the server only
    with running_api(project, {**on_server}) as base:
        ready = poll(f"{base}/ready", lambda status, _: status == 200, 120)

    assert "promoted to champion" in trained
    assert recorded["status"] == "FINISHED"
    assert "test_roc_auc" in recorded["metrics"]
    assert "evaluation.md" in recorded["artifacts"]
    assert "data_sha256.train" in recorded["tags"]
    assert not (project / "mlflow.db").exists()  # nothing went to the local store
    assert ready[0] == 200, ready
    assert json.loads(ready[1])["model_version"] == recorded["version"]
    assert call(f"{uri}/health")[0] == 200


@pytest.mark.parametrize("tracking_server", sorted(TRACKED_WORK), indirect=True)
def test_every_run_of_the_other_variants_lands_on_the_server(
    tracking_server: Tracked,
) -> None:
    variant, project, uri, torch_env = tracking_server
    targets, quick = TRACKED_WORK[variant]
    on_server = {**torch_env, **quick, "MLFLOW_TRACKING_URI": uri}

    for target in targets:
        make(project, target, extra_env=on_server)
    runs = _read_back(project, READ_BACK_RUNS, uri)

    assert isinstance(runs, list)
    assert runs, "no run reached the server"
    assert {run["status"] for run in runs} == {"FINISHED"}
    assert all(run["metrics"] for run in runs), runs
    assert any(run["artifacts"] for run in runs), runs
    assert not (project / "mlflow.db").exists()  # nothing went to the local store

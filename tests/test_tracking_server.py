"""A generated project trains against a real MLflow tracking server and serves the
champion it registered there.

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

import pytest
import yaml

from support import call, free_port, make, poll, project_env, running_api

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
    fresh_bake: Callable[[Mapping[str, str]], Path], tmp_path: Path
) -> Iterator[tuple[Path, str]]:
    project = fresh_bake({"variant": "serving", "init_git": "no"})
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
        yield project, uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_training_lands_on_the_server_and_the_api_serves_its_champion(
    tracking_server: tuple[Path, str],
) -> None:
    project, uri = tracking_server
    on_server = {"MLFLOW_TRACKING_URI": uri}

    trained = make(project, "train", extra_env=on_server)
    read_back = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", READ_BACK, uri, project.name],
        env=project_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    recorded = json.loads(read_back.stdout.strip().splitlines()[-1])
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

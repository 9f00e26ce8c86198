"""A generated project's own CI is green on its very first push, and on the push
that commits its lock file.

The workflow's `run:` steps are run in order, exactly as written, with the
workflow's and the job's `env`, in a fresh clone of the project's first commit.
The harness stands in for the steps that only prepare the runner (checkout,
installing uv and Python). The docker job is left to tests/test_container.py,
which builds and runs the same image from the same `make artifacts`: a build here
needs this machine's proxy certificate, which the workflow (rightly) never passes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import project_env

RUNNER_SETUP = ("uv python install",)
JOBS = ("lint", "typecheck", "test")


def _workflow(project: Path) -> dict[str, Any]:
    text = (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    workflow: dict[str, Any] = yaml.safe_load(text)
    return workflow


def run_job(clone: Path, workflow: dict[str, Any], job: str) -> list[str]:
    """Run every `run:` of `job` in order, as GitHub does (bash -e); return them."""
    spec = workflow["jobs"][job]
    env = project_env(
        CI="true",
        GITHUB_ACTIONS="true",
        **{key: str(value) for key, value in workflow.get("env", {}).items()},
        **{key: str(value) for key, value in spec.get("env", {}).items()},
    )
    ran = []
    for step in spec["steps"]:
        command = step.get("run")
        if command is None or command.strip() in RUNNER_SETUP:
            continue
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, (
            f"job {job}, step `{command.strip()}` failed:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
        ran.append(command.strip())
    return ran


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def first_commit(
    fresh_bake: Callable[[Mapping[str, str]], Path], tmp_path: Path
) -> Path:
    project = fresh_bake({"variant": "serving", "init_git": "yes"})
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(project), str(clone))
    return clone


def test_the_first_push_and_the_lock_commit_are_both_green(first_commit: Path) -> None:
    clone = first_commit
    workflow = _workflow(clone)
    assert not (clone / "uv.lock").exists()

    first = {job: run_job(clone, workflow, job) for job in JOBS}
    subprocess.run(
        ["make", "install"],
        cwd=clone,
        env=project_env(),
        capture_output=True,
        check=True,
        timeout=600,
    )
    git(clone, "add", "uv.lock")
    git(
        clone,
        "-c",
        "user.name=CI",
        "-c",
        "user.email=ci@example.com",
        "commit",
        "--quiet",
        "-m",
        "Lock",
    )
    locked = {job: run_job(clone, workflow, job) for job in ("lint", "typecheck")}

    assert first["test"][-1] == "make test"
    assert "make install-locked" in first["lint"]
    assert locked["lint"] == first["lint"]
    assert git(clone, "status", "--porcelain") == ""  # CI changed no tracked file

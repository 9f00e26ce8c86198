"""A generated project's own CI is green on its very first push, and on the push
that commits its lock file.

The workflow's `run:` steps are run in order, exactly as written, with the
workflow's and the job's `env`, in a fresh clone of the project's first commit.
The harness stands in for the steps that only prepare the runner (checkout,
installing uv and Python). The docker job is left to tests/test_container.py,
which builds and runs the same image from the same `make artifacts`: a build here
needs this machine's proxy certificate, which the workflow (rightly) never passes.

For the variants that need torch the harness adapts one thing: the clone's
pyproject.toml is pointed at the CPU torch wheel on this machine, because the
PyTorch index the project names is unreachable here (`use_local_torch`). Their
test job is `make test`, which their gate tests already run inside `make check`;
here they run the lint and typecheck jobs, from the first commit and after the
lock commit, which is where a workflow's install steps break.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import choices, project_env, run_in, use_local_torch

RUNNER_SETUP = ("uv python install",)
JOBS = ("lint", "typecheck", "test")


def _workflow(project: Path) -> dict[str, Any]:
    text = (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    workflow: dict[str, Any] = yaml.safe_load(text)
    return workflow


def run_job(
    clone: Path, workflow: dict[str, Any], job: str, harness: Mapping[str, str]
) -> list[str]:
    """Run every `run:` of `job` in order, as GitHub does (bash -e); return them."""
    spec = workflow["jobs"][job]
    env = project_env(
        CI="true",
        GITHUB_ACTIONS="true",
        **harness,
        **{key: str(value) for key, value in workflow.get("env", {}).items()},
        **{key: str(value) for key, value in spec.get("env", {}).items()},
    )
    ran = []
    for step in spec["steps"]:
        command = step.get("run")
        if command is None or command.strip() in RUNNER_SETUP:
            continue
        bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command]
        run_in(clone, bash, env, f"job {job}, step `{command.strip()}`")
        ran.append(command.strip())
    return ran


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(params=choices("variant"))
def first_commit(
    fresh_bake: Callable[[Mapping[str, str]], Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> tuple[Path, dict[str, str]]:
    project = fresh_bake({"variant": request.param, "init_git": "yes"})
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(project), str(clone))
    harness = use_local_torch(clone)  # {} for a project without torch: nothing adapted
    return clone, harness


def test_the_first_push_and_the_lock_commit_are_both_green(
    first_commit: tuple[Path, dict[str, str]],
) -> None:
    clone, harness = first_commit
    workflow = _workflow(clone)
    jobs = JOBS if not harness else ("lint", "typecheck")
    assert not (clone / "uv.lock").exists()

    first = {job: run_job(clone, workflow, job, harness) for job in jobs}
    run_in(clone, ["make", "install"], project_env(**harness), "make install")
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
    again = ("lint", "typecheck")
    locked = {job: run_job(clone, workflow, job, harness) for job in again}
    changed = git(clone, "status", "--porcelain").splitlines()

    assert "make install-locked" in first["lint"]
    assert first["typecheck"][-1] == "make typecheck"
    if "test" in first:
        assert first["test"][-1] == "make test"
    assert locked["lint"] == first["lint"]
    # CI changed no tracked file; only the harness's own edit shows.
    assert changed == ([" M pyproject.toml"] if harness else [])

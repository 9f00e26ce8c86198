"""What a generated project ships beyond Python is valid for the tools that read it.

The workflow must pass actionlint and GitHub's schema, the compose file and the
dependabot file their schemas, the Dockerfile hadolint: each tool runs offline
from the template's dev group. A workflow also keeps least privilege.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support import Bake, choices

VARIANTS = choices("variant")
# Versions tags (v4, v4.1.2) or full commit SHAs: never a moving branch.
PINNED_REF = re.compile(
    r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@(?:v\d+(?:\.\d+){0,2}|[0-9a-f]{40})$"
)


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: it is in the template's dev dependency group"
    return path


def run(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}{result.stderr}"


@pytest.fixture(params=VARIANTS)
def project(request: pytest.FixtureRequest, baked: Bake) -> Path:
    return baked(variant=request.param, init_git="no")


def workflows(project: Path) -> list[Path]:
    found = sorted((project / ".github" / "workflows").glob("*.yml"))
    assert found, "a generated project ships at least one workflow"
    return found


def test_workflows_pass_actionlint_and_the_github_schema(project: Path) -> None:
    for workflow in workflows(project):
        run(tool("actionlint"), str(workflow), cwd=project)
        run(
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(workflow),
            cwd=project,
        )


def test_workflows_grant_nothing_by_default_and_pin_every_action(project: Path) -> None:
    for workflow in workflows(project):
        document = yaml.safe_load(workflow.read_text(encoding="utf-8"))
        assert document["permissions"] == {}, f"{workflow.name}: top-level permissions"
        for name, job in document["jobs"].items():
            assert "permissions" in job, (
                f"{workflow.name}: job {name} states its permissions"
            )
            assert "write-all" not in str(job["permissions"])
            for step in job.get("steps", []):
                ref = step.get("uses")
                assert ref is None or PINNED_REF.match(ref), f"{name}: unpinned {ref}"


def test_compose_and_dependabot_match_their_schemas(project: Path) -> None:
    run(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        "compose.yaml",
        cwd=project,
    )
    run(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.dependabot",
        ".github/dependabot.yml",
        cwd=project,
    )


def test_compose_publishes_ports_on_loopback_only(project: Path) -> None:
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))
    published = [
        str(port)
        for service in compose["services"].values()
        for port in service.get("ports", [])
    ]
    assert published, "the stack publishes the API"
    assert all(port.startswith("127.0.0.1:") for port in published), published


def test_dockerfile_passes_hadolint_and_runs_as_non_root(project: Path) -> None:
    run(tool("hadolint"), "Dockerfile", cwd=project)
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    users = [
        line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")
    ]
    assert users, "the final stage sets a user"
    assert users[-1] not in {"root", "0", "0:0"}
    assert "HEALTHCHECK" in dockerfile


# Files a project run leaves behind that must never be committed.
NEVER_COMMITTED = [
    ".env",
    ".env.production",
    "mlflow.db",
    "mlruns/0/meta.yaml",
    "mlartifacts/1/model.pkl",
    "models/champion/MLmodel",
    ".venv/bin/python",
]
ALWAYS_COMMITTED = [".env.example", "README.md", "pyproject.toml", "Makefile"]


def test_gitignore_keeps_secrets_and_run_outputs_out_of_git(
    project: Path, tmp_path: Path
) -> None:
    project = Path(shutil.copytree(project, tmp_path / project.name))
    run("git", "init", "-q", cwd=project)
    for name in NEVER_COMMITTED:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("planted\n")
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", *NEVER_COMMITTED, *ALWAYS_COMMITTED],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    ignored = set(checked.stdout.split())

    assert ignored == set(NEVER_COMMITTED)

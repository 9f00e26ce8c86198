"""The two commands README.md promises are the ones that work, and CI runs one."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

PIP_PREFIX = "python -m pip install "


def readme_command(marker: str) -> str:
    """The one-line shell command in the code block right after `<!-- marker -->`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\n```bash\n(.+?)\n```", readme)
    assert match, f"README.md has no bash block after <!-- {marker} -->"
    return match.group(1)


def test_ci_runs_the_test_command_that_the_readme_gives() -> None:
    command = readme_command("test-command")
    ci_lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()

    assert command in ci_lines


def test_generate_command_bakes_into_the_parent_of_a_clone(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    command = readme_command("generate-command")
    install, _, generate = command.partition(" && ")
    assert install == PIP_PREFIX + "cookiecutter"  # installed here by the dev group
    args = shlex.split(generate)
    assert args[0] == "cookiecutter"

    clone = tmp_path / "clone"
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in tracked:
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--config-file",
            str(cookiecutter_config),
            *args[1:],
        ],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    project = tmp_path / "churn-risk-service"
    assert (project / "pyproject.toml").is_file()
    assert (project / "src" / "churn_risk_service" / "api.py").is_file()


@pytest.mark.parametrize("marker", ["generate-command", "test-command"])
def test_readme_commands_start_from_plain_pip(marker: str) -> None:
    assert readme_command(marker).startswith(PIP_PREFIX)

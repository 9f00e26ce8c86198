"""The first commands a new user types work, or stop at once saying what to install.

The user's path: a fresh shell where uv may not be installed yet, or where another
virtualenv (cookiecutter's, say) is still active.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from support import project_env

# What a bare system offers besides uv: the shell and the tools Make's recipes call.
SYSTEM_TOOLS = ("make", "bash", "sh", "grep", "awk", "env", "cat", "sed", "git")


@pytest.fixture
def path_without_uv(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in SYSTEM_TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def _make(project: Path, target: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", target],
        cwd=project,
        env=project_env(PATH=path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("target", ["install", "check"])
def test_without_uv_a_target_stops_with_one_line_saying_how_to_get_it(
    fresh_bake: Callable[[Mapping[str, str]], Path], path_without_uv: str, target: str
) -> None:
    project = fresh_bake({"variant": "serving", "init_git": "no"})

    result = _make(project, target, path_without_uv)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert "uv is not installed: run `python -m pip install uv`" in errors[0]
    assert not (project / ".venv").exists()


def test_make_help_needs_no_uv(
    fresh_bake: Callable[[Mapping[str, str]], Path], path_without_uv: str
) -> None:
    project = fresh_bake({"variant": "serving", "init_git": "no"})

    result = _make(project, "help", path_without_uv)

    assert result.returncode == 0, result.stderr
    assert "install" in result.stdout

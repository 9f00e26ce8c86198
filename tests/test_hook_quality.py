"""The hooks and filters are plain Python that the strict tools accept as is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

# The scripts cookiecutter runs (named for a hook), and all the template's Python.
HOOKS = sorted((REPO / "hooks").glob("*_gen_project.py"))
CHECKED = [
    *sorted((REPO / "hooks").glob("*.py")),
    REPO / "local_extensions.py",
    REPO / "template_answers.py",
]
TOJSON_LINES = [
    'given = json.loads(r"""{{ cookiecutter | post_generation_input | tojson }}""")'
]


def run_tool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_one_hook_runs_after_generation() -> None:
    """Answers are checked in-process (template_answers.py), so the only Python
    process cookiecutter starts is the post-generation hook; its work is a module
    beside it that cookiecutter neither runs nor renders."""
    assert [hook.name for hook in HOOKS] == ["post_gen_project.py"]
    assert (REPO / "hooks" / "post_generation.py").is_file()


def test_hooks_and_filters_pass_ruff() -> None:
    paths = [str(path) for path in CHECKED]
    lint = run_tool("ruff", "check", "--no-cache", *paths)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run_tool("ruff", "format", "--check", "--no-cache", *paths)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_hooks_and_filters_pass_mypy_strict(tmp_path: Path) -> None:
    result = run_tool(
        "mypy",
        "--strict",
        "--python-version",
        "3.11",
        "--cache-dir",
        str(tmp_path / "mypy-cache"),
        *(str(path) for path in CHECKED),
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("hook", HOOKS, ids=lambda path: path.name)
def test_hook_holds_template_syntax_only_in_its_tojson_lines(hook: Path) -> None:
    """Anything else Jinja-like would be rendered (or break rendering)."""
    lines = hook.read_text("utf-8").splitlines()
    templated = [line.strip() for line in lines if re.search(r"\{\{|\{%|\{#", line)]
    assert templated == TOJSON_LINES

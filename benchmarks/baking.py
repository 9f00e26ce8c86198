"""Baking a variant for a benchmark, without the hooks' next steps in its output, and
installing it the way the template's tests do (torch from the local CPU wheel)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from cookiecutter.main import cookiecutter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

# The template's tests hold the local-torch trick and the user's environment.
from support import project_env, use_local_torch  # noqa: E402


@contextlib.contextmanager
def silenced_stdout() -> Iterator[None]:
    """Hide what the hooks print: they are subprocesses, so redirect the fd itself."""
    sys.stdout.flush()
    saved = os.dup(1)
    with Path(os.devnull).open("w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def bake(variant: str, output_dir: Path | str, template: Path = REPO) -> Path:
    """Generate `variant` (no git) from `template` (this checkout) into `output_dir`."""
    with silenced_stdout():
        project = cookiecutter(
            str(template),
            no_input=True,
            output_dir=str(output_dir),
            extra_context={"variant": variant, "init_git": "no"},
        )
    return Path(project)


def bake_and_install(
    variant: str, output_dir: Path | str, template: Path = REPO
) -> tuple[Path, dict[str, str]]:
    """Bake `variant`, `uv sync` it with the local CPU torch and bytecode compiled (as
    an image or a second run has it), and return the project with the environment to
    run its commands in: the user's, offline, writing bytecode as Python does by
    default (a PYTHONDONTWRITEBYTECODE=1 shell recompiles every import of every run)."""
    project = bake(variant, output_dir, template)
    env = project_env() | use_local_torch(project)
    subprocess.run(
        ["uv", "sync", "--quiet"],
        cwd=project,
        env=env | {"UV_COMPILE_BYTECODE": "1"},
        check=True,
    )
    return project, env | {"UV_OFFLINE": "1"}

"""Baking a variant for a benchmark, without the hooks' next steps in its output."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from cookiecutter.main import cookiecutter

REPO = Path(__file__).resolve().parents[1]


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


def bake(variant: str, output_dir: Path | str) -> Path:
    """Generate `variant` (no git) from this checkout into `output_dir`."""
    with silenced_stdout():
        project = cookiecutter(
            str(REPO),
            no_input=True,
            output_dir=str(output_dir),
            extra_context={"variant": variant, "init_git": "no"},
        )
    return Path(project)

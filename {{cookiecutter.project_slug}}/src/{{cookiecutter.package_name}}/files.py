"""Atomic writes: a crash or a full disk never leaves a half-written file or folder.

Everything the project writes for others to read (datasets, results, README
sections, exported models, indexes) goes through here: it is written next to
its destination first and moved into place only once complete.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp makes files private; results are meant to be read
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, payload: Any) -> None:
    """Indented, key-sorted JSON, so results files diff cleanly in git."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield an empty folder to fill; it becomes `target` only if the block succeeds.

    The previous `target` stays whole until the new one is complete, then goes.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    staging.chmod(0o755)  # mkdtemp makes it private; a container's non-root user must read it
    try:
        yield staging
        previous = target.with_name(f".{target.name}.previous")
        shutil.rmtree(previous, ignore_errors=True)
        if target.exists():
            os.replace(target, previous)
        os.replace(staging, target)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

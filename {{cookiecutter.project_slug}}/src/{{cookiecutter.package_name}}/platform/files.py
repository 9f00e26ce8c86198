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


def process_alive(pid: int) -> bool:
    """Whether a process of this machine with that id is still running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _staging_prefix(path: Path) -> str:
    """Hidden, and named after the writing process, so leftovers of a killed run are known."""
    return f".{path.name}.{os.getpid()}."


def recover(path: Path) -> None:
    """Undo what a killed writer of `path` left: its temporaries, and a half-done swap.

    A writer killed between moving the old folder aside and moving the new one in
    leaves only `.<name>.previous`: that is put back. Temporaries of a process that is
    still running are left alone.
    """
    previous = path.with_name(f".{path.name}.previous")
    if previous.exists() and not path.exists():
        os.replace(previous, path)
    shutil.rmtree(previous, ignore_errors=True)
    for leftover in path.parent.glob(f".{path.name}.*"):
        pid = leftover.name.removeprefix(f".{path.name}.").split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    recover(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=_staging_prefix(path), suffix=".tmp")
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


def json_text(payload: Any) -> str:
    """Indented, key-sorted JSON, so results files diff cleanly in git."""
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def write_json(path: Path, payload: Any) -> None:
    write_text(path, json_text(payload))


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield an empty folder to fill; it becomes `target` only if the block succeeds.

    The previous `target` stays whole until the new one is complete, then goes.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=_staging_prefix(target)))
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

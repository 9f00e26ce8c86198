"""Session resources built once per test run, however many pytest-xdist workers ask.

Each xdist worker has its own session, so a session fixture that trains a model or
migrates a store would run once per worker. `built_once` runs it once: the first
worker to ask builds it under a file lock in a folder all workers of the run share,
and the others wait, then read its pickled result. What it builds is read-only to
the tests: one that needs to change it works on a copy.
"""

import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from filelock import FileLock

T = TypeVar("T")


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of this test run: the workers' parent under xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]
) -> T:
    """`build(folder)` once per run, in `<run>/<name>/`; later calls get its result."""
    root = run_folder(tmp_path_factory)
    folder, result = root / name, root / f"{name}.pickle"
    with FileLock(root / f"{name}.lock"):
        if result.is_file():
            # Written by a worker of this same run, a few lines below.
            cached: T = pickle.loads(result.read_bytes())  # noqa: S301
            return cached
        shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
        folder.mkdir()
        value = build(folder)
        result.write_bytes(pickle.dumps(value))
    return value

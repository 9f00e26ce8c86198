"""The project's CLI, run under `accelerate launch` by test_distributed.py, with a record
of what this process wrote and which training examples it read.

Python's audit hooks see every file opened for writing, every folder made, moved or
removed and every SQLite database opened (MLflow's store), whoever does it: the
project, transformers, MLflow. At exit the record goes to PROBE_DIR/rank-<RANK>.json,
through a file opened before the hook, so the record never records itself.
"""

import atexit
import json
import os
import sys
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }} import sft
from {{ cookiecutter.package_name }}.cli import app

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
CHANGES = {
    "os.mkdir",
    "os.rename",
    "os.replace",
    "os.remove",
    "os.rmdir",
    "os.symlink",
    "os.link",
    "os.truncate",
    "shutil.rmtree",
    "shutil.move",
    "sqlite3.connect",
}

writes: list[str] = []
reads: list[list[int]] = []  # [dataset length, index] per example fetched


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open":
        path, mode, flags = args
        writing = any(c in str(mode or "") for c in "wax+") or (
            mode is None and isinstance(flags, int) and flags & WRITE_FLAGS
        )
        if writing and isinstance(path, str | bytes | os.PathLike):
            writes.append(os.fsdecode(path))
    elif event in CHANGES and args and isinstance(args[0], str | bytes | os.PathLike):
        writes.append(f"{event} {os.fsdecode(args[0])}")


def _recording_getitem(original: Any) -> Any:
    def getitem(self: sft.FeatureDataset, index: int) -> dict[str, list[int]]:
        reads.append([len(self), int(index)])
        result: dict[str, list[int]] = original(self, index)
        return result

    return getitem


def main() -> None:
    report = (Path(os.environ["PROBE_DIR"]) / f"rank-{os.environ.get('RANK', '0')}.json").open(
        "w", encoding="utf-8"
    )

    def dump() -> None:
        json.dump({"writes": writes, "reads": reads}, report)
        report.close()

    atexit.register(dump)
    sft.FeatureDataset.__getitem__ = _recording_getitem(  # type: ignore[method-assign]
        sft.FeatureDataset.__getitem__
    )
    sys.addaudithook(_audit)
    app()


if __name__ == "__main__":
    main()

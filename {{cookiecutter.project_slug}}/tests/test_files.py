import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.platform.files import (
    atomic_path,
    recover,
    staged_directory,
    write_json,
    write_text,
)


def test_json_is_written_sorted_and_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "results" / "metrics.json"

    write_json(path, {"b": 1, "a": [1.5]})

    assert path.read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'
    assert json.loads(path.read_text()) == {"a": [1.5], "b": 1}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    write_text(path, "old\n")

    def interrupted_write() -> None:
        with atomic_path(path) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        interrupted_write()

    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]


def test_a_staged_directory_replaces_the_old_one_whole(tmp_path: Path) -> None:
    target = tmp_path / "champion"
    target.mkdir()
    (target / "old.txt").write_text("old")

    with staged_directory(target) as staging:
        (staging / "new.txt").write_text("new")
        assert (target / "old.txt").exists()  # still served while the new one is built

    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["champion"]


def test_a_failed_staged_directory_keeps_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "index"
    target.mkdir()
    (target / "old.txt").write_text("old")

    def interrupted_build() -> None:
        with staged_directory(target) as staging:
            (staging / "part.bin").write_bytes(b"\0" * 10)
            raise OSError("interrupted")

    with pytest.raises(OSError, match="interrupted"):
        interrupted_build()

    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_a_staged_directory_can_create_its_target(tmp_path: Path) -> None:
    target = tmp_path / "new" / "models"

    with staged_directory(target) as staging:
        (staging / "MLmodel").write_text("x")

    assert (target / "MLmodel").read_text() == "x"


def _dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "champion"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from {{ cookiecutter.package_name }}.platform import files\n"
            "with files.staged_directory(Path(sys.argv[1])) as staging:\n"
            "    (staging / 'half.bin').write_bytes(b'x')\n"
            "    print('writing', flush=True)\n"
            "    time.sleep(120)\n",
            str(target),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = sorted(p.name for p in tmp_path.iterdir())

    with staged_directory(target) as staging:
        (staging / "whole.bin").write_bytes(b"y")

    assert len(left) == 1
    assert left[0].startswith(f".champion.{writer.pid}.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["champion"]


def test_temporaries_of_a_running_writer_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    running = tmp_path / f".metrics.json.{os.getppid()}.abc.tmp"
    running.write_text("in progress")
    stale = tmp_path / f".metrics.json.{_dead_pid()}.def.tmp"
    stale.write_text("abandoned")

    write_text(path, "{}")

    assert running.exists()
    assert not stale.exists()


def test_a_swap_cut_in_half_is_undone(tmp_path: Path) -> None:
    target = tmp_path / "index"
    previous = tmp_path / ".index.previous"
    previous.mkdir()  # killed after moving the old index aside, before moving the new one in
    (previous / "old.txt").write_text("old")

    recover(target)

    assert (target / "old.txt").read_text() == "old"
    assert not previous.exists()

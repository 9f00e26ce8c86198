from pathlib import Path

import pytest

from run_cache import built_once, run_folder


def test_a_second_caller_reads_the_first_build_back_without_building(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    builds: list[Path] = []

    def build(folder: Path) -> dict[str, str]:
        builds.append(folder)
        (folder / "model.bin").write_bytes(b"weights")
        return {"model": str(folder / "model.bin")}

    first = built_once(tmp_path_factory, request.node.name, build)
    second = built_once(tmp_path_factory, request.node.name, build)

    assert builds == [run_folder(tmp_path_factory) / request.node.name]
    assert second == first
    assert second is not first  # read back from the file another worker would read
    assert Path(second["model"]).read_bytes() == b"weights"


def test_a_failed_build_leaves_nothing_and_the_next_caller_builds_afresh(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    def broken(folder: Path) -> None:
        (folder / "half-written").write_text("")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        built_once(tmp_path_factory, request.node.name, broken)

    def listing(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir())

    assert built_once(tmp_path_factory, request.node.name, listing) == []


def test_the_workers_of_one_run_share_its_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert run_folder(tmp_path_factory) == tmp_path_factory.getbasetemp().parent

    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert run_folder(tmp_path_factory) == tmp_path_factory.getbasetemp()

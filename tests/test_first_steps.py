"""The first commands a new user types work, or stop at once saying what to install.

The user's path: a fresh shell where uv may not be installed yet, or where another
virtualenv (cookiecutter's, say) is still active.
"""

from __future__ import annotations

import os
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


@pytest.fixture(scope="module")
def fine_tuning(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support import bake  # noqa: PLC0415

    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f'replay_dir: "{home / "replay"}"\n', encoding="utf-8")
    output = tmp_path_factory.mktemp("fine-tuning")
    return bake(output, config, {"variant": "fine-tuning", "init_git": "no"})


def _install_plan(project: Path, path: str, **env: str) -> list[str]:
    """What `make install` would run (make -n), as a user's shell would see it."""
    result = subprocess.run(
        ["make", "-n", "install"],
        cwd=project,
        # Not CI unless a case says so: the suite itself may run in CI.
        env=project_env(PATH=path, **({"CI": ""} | env)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return (result.stdout + result.stderr).splitlines()


@pytest.fixture
def path_with_a_gpu(tmp_path: Path) -> str:
    """PATH with an `nvidia-smi` that lists one GPU, as on a CUDA machine."""
    bin_dir = tmp_path / "gpu-bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text(
        '#!/bin/sh\necho "GPU 0: NVIDIA H200 (UUID: GPU-0)"\n', encoding="utf-8"
    )
    fake.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize(
    ("machine", "build", "why"),
    [
        ({"gpu": "yes"}, "cuda", "nvidia-smi lists a GPU"),
        ({}, "cpu", "nvidia-smi found no NVIDIA GPU"),
        ({"gpu": "yes", "TORCH": "cpu"}, "cpu", "TORCH=cpu was asked for"),
        ({"gpu": "yes", "CI": "true"}, "cpu", "CI has no GPU"),
    ],
)
def test_install_picks_the_torch_build_from_the_hardware_and_says_why(
    fine_tuning: Path,
    path_with_a_gpu: str,
    machine: dict[str, str],
    build: str,
    why: str,
) -> None:
    env = dict(machine)
    path = path_with_a_gpu if env.pop("gpu", None) else os.environ["PATH"]

    plan = _install_plan(fine_tuning, path, **env)

    assert f"uv sync --extra {build}" in plan
    assert any(f"torch: the {build} build ({why})" in line for line in plan), plan


def test_an_unknown_torch_build_is_refused_naming_the_choices(
    fine_tuning: Path,
) -> None:
    plan = _install_plan(fine_tuning, os.environ["PATH"], TORCH="rocm")

    assert any('TORCH must be cpu or cuda, not "rocm"' in line for line in plan), plan

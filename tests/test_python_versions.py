"""Each supported Python version renders into every place that pins one.

Only 3.11 runs on these machines, so for the others we check what they render:
the package metadata, the lint and type targets, the Docker base and uv's pin.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

import pytest

from support import Bake, choices

per_version = pytest.mark.parametrize(
    "version",
    [
        # Same answers and xdist group as the bake matrix: baked once per worker.
        pytest.param(v, marks=pytest.mark.xdist_group(f"serving-{v}-MIT-no"))
        for v in choices("python_version")
    ],
)


@dataclass(frozen=True)
class Rendered:
    pyproject: dict[str, Any]
    dockerfile: str
    python_version_file: str


def rendered(baked: Bake, version: str) -> Rendered:
    project = baked(
        variant="serving", python_version=version, license="MIT", init_git="no"
    )
    return Rendered(
        pyproject=tomllib.loads((project / "pyproject.toml").read_text("utf-8")),
        dockerfile=(project / "Dockerfile").read_text("utf-8"),
        python_version_file=(project / ".python-version").read_text("utf-8"),
    )


@per_version
def test_requires_python_is_the_chosen_version_or_newer(
    baked: Bake, version: str
) -> None:
    project = rendered(baked, version).pyproject["project"]
    assert project["requires-python"] == f">={version}"


@per_version
def test_ruff_targets_the_chosen_version(baked: Bake, version: str) -> None:
    ruff = rendered(baked, version).pyproject["tool"]["ruff"]
    assert ruff["target-version"] == "py" + version.replace(".", "")


@per_version
def test_mypy_checks_against_the_chosen_version(baked: Bake, version: str) -> None:
    mypy = rendered(baked, version).pyproject["tool"]["mypy"]
    assert mypy["python_version"] == version


@per_version
def test_docker_base_image_defaults_to_the_chosen_version(
    baked: Bake, version: str
) -> None:
    lines = rendered(baked, version).dockerfile.splitlines()
    base_args = [line for line in lines if line.startswith("ARG BASE_IMAGE=")]
    assert base_args, "no `ARG BASE_IMAGE=` line"
    assert all(f"python:{version}" in line for line in base_args), base_args


@per_version
def test_python_version_file_pins_the_chosen_version(baked: Bake, version: str) -> None:
    assert rendered(baked, version).python_version_file.splitlines() == [version]

"""Adding a variant is one overlay folder and one table row, and nothing else.

A copy of the template gets a throwaway variant, `tests/new_variant/`: its settings,
command line, tests, Make targets, README, model card, shipped folder, one dependency
(a fragment), and `row.json`, its row of `_variant_table`. Its project bakes
with the cookiecutter command, installs and passes its own gate, and nothing of the
other variants reaches it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from support import FRAGMENTS_DIR, OVERLAYS, REPO, bake_cli, make, project_files

NAME = "toy"
# The toy's overlay, and `row.json`, its row of the table.
TOY = Path(__file__).parent / "new_variant"


@pytest.fixture(scope="module")
def template_with_toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as committed and being changed (git's view), plus the toy."""
    copy = tmp_path_factory.mktemp("template") / "template"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / relative)
    overlay = copy / OVERLAYS.relative_to(REPO) / NAME
    shutil.copytree(TOY, overlay, ignore=shutil.ignore_patterns("row.json"))
    config_path = copy / "cookiecutter.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["_variant_table"][NAME] = json.loads((TOY / "row.json").read_text())
    config["variant"] = [*config["variant"], NAME]
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return copy


@pytest.fixture(scope="module")
def toy_project(
    template_with_toy: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """The toy baked with the cookiecutter command; its folder and what it printed."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f'cookiecutters_dir: "{home}/c"\nreplay_dir: "{home}/r"\n')
    output = tmp_path_factory.mktemp("baked")

    result = bake_cli(
        output, config, {"variant": NAME, "init_git": "no"}, template=template_with_toy
    )

    assert result.returncode == 0, result.stderr
    (project,) = output.iterdir()
    return project, result.stdout


def test_the_new_row_is_offered_and_its_project_holds_only_its_own_files(
    toy_project: tuple[Path, str],
) -> None:
    project, printed = toy_project
    files = project_files(project)
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")

    assert project.name == "toy-greeter"
    assert {
        "greetings/en.txt",
        "tests/test_hello.py",
        "src/toy_greeter/cli.py",
    } <= files
    assert not any(FRAGMENTS_DIR in name for name in files)
    assert "greeting read from a file" in (project / "docs/model_card.md").read_text()
    assert '    "rich>=13",\n]' in pyproject
    for other in (
        "pandas",
        "torch",
        "transformers",
        "sentence-transformers",
        "postgres",
    ):
        assert other not in pyproject, other
    assert "COPY greetings/ ./greetings/" in dockerfile
    assert "GREETING=hello from the image" in dockerfile
    assert "make hello" in printed


def test_the_new_variant_passes_its_own_gate(toy_project: tuple[Path, str]) -> None:
    project, _ = toy_project

    make(project, "install", offline=False)
    make(project, "docs")
    make(project, "check")
    greeting = make(project, "hello")

    assert greeting.splitlines()[-1] == "hello"

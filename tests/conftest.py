"""Fixtures: an isolated cookiecutter and git setup, and a per-worker bake cache."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from support import MAX_EXAMPLES, REPO, Bake, bake

# A throwaway variant's overlay (test_new_variant.py): Jinja until baked, not tests.
collect_ignore = ["new_variant"]

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # local_extensions, as cookiecutter loads it

settings.register_profile(
    "template",
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("template")


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cookiecutter config that keeps replay files and clones out of $HOME."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f'cookiecutters_dir: "{home / "cookiecutters"}"\n'
        f'replay_dir: "{home / "replay"}"\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="session", autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hide the machine's git configuration: no identity, no default branch."""
    empty = tmp_path_factory.mktemp("git-home") / "gitconfig"
    empty.touch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", str(empty))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


@pytest.fixture(scope="session")
def baked(tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path) -> Bake:
    """Bake once per answer set and worker; tests only read the result."""
    cache: dict[tuple[tuple[str, str], ...], Path] = {}

    def get(**answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in cache:
            output = tmp_path_factory.mktemp("baked")
            cache[key] = bake(output, cookiecutter_config, answers)
        return cache[key]

    return get


@pytest.fixture
def fresh_bake(tmp_path: Path, cookiecutter_config: Path) -> Callable[..., Path]:
    """Bake into this test's own folder (for tests that look at side effects)."""

    def make(answers: Mapping[str, str]) -> Path:
        return bake(tmp_path / "out", cookiecutter_config, answers)

    return make

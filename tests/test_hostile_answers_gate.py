"""Hostile answers still give a project that installs and passes its own gate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from support import make

HOSTILE_NAME = 'Zz O\'Brien "Model" \\ v2 Über-long name for the longest package'


def test_hostile_answers_still_give_a_project_that_passes_its_gate(
    fresh_bake: Callable[[Mapping[str, str]], Path],
) -> None:
    project = fresh_bake(
        {
            "variant": "serving",
            "project_name": HOSTILE_NAME,
            "description": "Says \"hi\" \\ and O'Brien's $HOME `rm -rf` <b>x</b> # no",
            "author_name": 'Zoë "Zed" O\'Brien \\',
            "init_git": "no",
            "license": "Apache-2.0",
        }
    )
    make(project, "install", offline=False)

    gate = make(project, "check")

    assert "Required test coverage of 90" in gate

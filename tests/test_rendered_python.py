"""Rendered Python stays within the generated project's line length for any name.

The template's Python is not re-formatted after rendering, so a line holding the
package name must fit `line-length` even with the longest name the hooks accept;
otherwise `ruff format --check` fails in the user's first `make check`.
"""

from __future__ import annotations

import tomllib

import pytest

from support import choices, render_answers, render_project_files

LONGEST_SLUG = "z" * 48  # slugify(max_length=48) in cookiecutter.json


@pytest.mark.parametrize("variant", choices("variant"))
def test_python_lines_fit_the_line_length_with_the_longest_name(variant: str) -> None:
    context = render_answers(variant=variant, project_slug=LONGEST_SLUG)
    files = render_project_files(context, suffixes=(".py", "pyproject.toml"))
    limit = tomllib.loads(files["pyproject.toml"])["tool"]["ruff"]["line-length"]

    too_long = [
        f"{name}:{number}: {len(line)} columns"
        for name, text in files.items()
        if name.endswith(".py")
        for number, line in enumerate(text.splitlines(), start=1)
        if len(line) > limit
    ]

    assert context["package_name"] == "z" * 48
    assert too_long == []

"""Hostile answers give either a project whose files read back the answers intact,
or a refusal that names the field and leaves nothing behind.

A named list pins the outcome of each known-nasty answer; property tests check
the either/or for arbitrary text, mostly through ``validate`` and an in-process
render, and for a few examples through a real bake.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from support import (
    MAX_EXAMPLES,
    STRUCTURED_SUFFIXES,
    answer_rules,
    bake,
    bake_cli,
    docker_fold,
    dockerfile_label_values,
    md_fold,
    md_unescape,
    parse_structured,
    parse_structured_text,
    project_files,
    render_answers,
    render_project_files,
    structured_files,
)

hook = answer_rules()
SUGGESTION = re.compile(r": try (?P<value>.+)$")


def suggestion(message: str) -> str:
    """The value a refusal message proposes (`...: try '<value>'`)."""
    match = SUGGESTION.search(message)
    assert match, f"no `try <value>` in {message!r}"
    value = ast.literal_eval(match.group("value"))
    assert isinstance(value, str)
    return value


FREE_TEXT = ("project_name", "description", "author_name")
CHECKED_SUFFIXES = (".toml", ".yaml", ".yml", ".json", ".md", "Dockerfile")


@dataclass(frozen=True)
class Case:
    id: str
    answers: dict[str, str]
    refused_field: str | None = None  # None: the answers must bake
    extra: dict[str, str] = field(default_factory=dict)


def everywhere(text: str) -> dict[str, str]:
    return dict.fromkeys(FREE_TEXT, text)


BAKES = [
    Case("quotes-and-backslashes", everywhere('O\'Brien "Model" \\ v2')),
    Case(
        "triple-quotes-in-free-text",
        {
            "project_name": "Quote '''\"\"\" Model",
            "description": "'''\"\"\"",
            "author_name": "'''\"\"\"",
        },
    ),
    Case("unicode", everywhere("Café Modèle 模型")),
    Case("emoji", everywhere("Rocket 🚀 Model 🤖")),
    Case(
        "markdown-and-html",
        everywhere("<script>alert(1)</script> *b* _i_ [l](u) `c` | # -- &amp;"),
    ),
    Case("dollars", everywhere("Cost $HOME ${PATH} $$ 100%")),
    Case(
        "longest-allowed",
        {"project_name": "N" * 100, "description": "D" * 300, "author_name": "A" * 100},
    ),
]
REFUSALS = [
    Case("triple-quotes-as-name", {"project_name": "'''\"\"\""}, "project_name"),
    Case("emoji-only-name", {"project_name": "🚀🤖"}, "project_name"),
    Case("keyword", {"project_name": "class"}, "project_name"),
    Case("leading-digit", {"project_name": "3d-model"}, "project_name"),
    Case("dependency-mlflow", {"project_name": "mlflow"}, "project_name"),
    Case("dependency-fastapi", {"project_name": "fastapi"}, "project_name"),
    Case("dependency-torch", {"project_name": "torch"}, "project_name"),
    Case("test-package", {"project_name": "test"}, "project_name"),
    Case("stdlib-json", {"project_name": "json"}, "project_name"),
    Case("stdlib-logging", {"project_name": "logging"}, "project_name"),
    Case("200-characters", {"project_name": "Model " * 33 + "xy"}, "project_name"),
    Case("blank", {"project_name": ""}, "project_name"),
    Case("whitespace-only", {"project_name": "   \t "}, "project_name"),
    Case("punctuation-only", {"project_name": "!!!"}, "project_name"),
    Case("python-3.10", {"python_version": "3.10"}, "python_version"),
    Case("bad-email", {"author_email": "ada-at-example.com"}, "author_email"),
    Case("bad-github-handle", {"github_username": "-ada_lovelace-"}, "github_username"),
    Case("newline-in-description", {"description": "one\ntwo"}, "description"),
    Case("undecodable-author", {"author_name": "Ad\udcff"}, "author_name"),
]


def check_project_files(rendered: dict[str, str], answers: dict[str, Any]) -> None:
    """The invariants a baked project holds for any accepted free text."""
    pyproject = tomllib.loads(rendered["pyproject.toml"])["project"]
    assert pyproject["description"] == answers["description"]
    assert pyproject["authors"][0]["name"] == answers["author_name"]
    assert pyproject["authors"][0]["email"] == answers["author_email"]
    assert md_fold(answers["project_name"]) in md_unescape(rendered["README.md"])
    labels = dockerfile_label_values(rendered["Dockerfile"])
    assert docker_fold(answers["project_name"]) in labels
    assert docker_fold(answers["description"]) in labels
    assert any(docker_fold(answers["author_name"]) in label for label in labels)


def read_project(project: Path) -> dict[str, str]:
    return {
        name: (project / name).read_text("utf-8")
        for name in project_files(project)
        if name.endswith(CHECKED_SUFFIXES)
    }


@pytest.mark.parametrize("case", BAKES, ids=lambda case: case.id)
def test_hostile_free_text_bakes_and_reads_back_intact(
    case: Case, tmp_path: Path, cookiecutter_config: Path
) -> None:
    answers = {**case.answers, "init_git": "no"}  # git is the bake matrix's job
    assert hook.validate(render_answers(**answers)) == []
    project = bake(tmp_path, cookiecutter_config, answers)
    for path in structured_files(project):
        parse_structured(path)
    check_project_files(read_project(project), render_answers(**answers))


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.id)
def test_hostile_answer_is_refused_by_name_and_leaves_nothing(
    case: Case, tmp_path: Path, cookiecutter_config: Path
) -> None:
    output = tmp_path / "out"
    output.mkdir()
    field = case.refused_field
    assert field is not None
    result = bake_cli(output, cookiecutter_config, case.answers)
    assert result.returncode != 0
    assert list(output.iterdir()) == []
    lines = result.stderr.splitlines()
    named = [line for line in lines if field in line]
    assert named, result.stderr[-2000:]
    if field != "python_version":  # refused by cookiecutter itself
        assert any(line.startswith(f"error: {field} ") for line in lines)
        assert any(": try " in line for line in named)
        assert "Traceback" not in result.stdout + result.stderr


def test_template_syntax_in_a_command_line_answer_leaves_nothing(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    """Cookiecutter renders --no-input answers as Jinja; a broken one stops it."""
    output = tmp_path / "out"
    output.mkdir()
    result = bake_cli(output, cookiecutter_config, {"description": "{% broken"})
    assert result.returncode != 0
    assert list(output.iterdir()) == []


# --- Property tests ---------------------------------------------------------------

SYNTAX = (
    "\"'\\$`*_{}[]<>#|~&!-+=.:;"  # what TOML, YAML, Markdown or Docker treat specially
)
NASTY = [
    *SYNTAX,
    *" \t\n\r\x00\x7f\u2028",
    *("a", "Z", "7", "é", "模", "🚀", "'''", '"""', "class", "json", "mlflow"),
]
# Text a person could type (no control characters or line breaks), often with
# the characters each format treats specially: most of it should be accepted.
typeable = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")),
        st.sampled_from(SYNTAX),
    ),
    min_size=1,
    max_size=80,
).filter(lambda text: text.strip() != "")
free_text = st.one_of(
    typeable,
    typeable.map(lambda text: f"Model {text}"),
    st.text(max_size=120),
    st.lists(st.sampled_from(NASTY), max_size=30).map("".join),
    # Undecodable bytes on a command line arrive as lone surrogates.
    st.tuples(typeable, st.integers(0xDC80, 0xDCFF).map(chr)).map("".join),
    st.sampled_from(
        [case.answers.get("project_name", "") for case in BAKES + REFUSALS]
    ),
)


@given(project_name=free_text, description=free_text, author_name=free_text)
def test_any_free_text_is_accepted_with_intact_files_or_refused_by_field(
    project_name: str, description: str, author_name: str
) -> None:
    answers = render_answers(
        project_name=project_name, description=description, author_name=author_name
    )
    problems = hook.validate(answers)
    event("refused" if problems else "accepted")
    if problems:
        for message in problems:
            field = message.split(" ", 1)[0]
            assert field in FREE_TEXT, message
            assert "\n" not in message
            fixed = {
                "project_name": project_name,
                "description": description,
                "author_name": author_name,
                field: suggestion(message),
            }
            still = hook.validate(render_answers(**fixed))
            assert not [m for m in still if m.startswith(f"{field} ")], message
        return
    rendered = render_project_files(answers, suffixes=CHECKED_SUFFIXES)
    for name, text in rendered.items():
        if name.endswith(STRUCTURED_SUFFIXES):
            parse_structured_text(name, text)
    check_project_files(rendered, answers)


# Cookiecutter renders --no-input/extra_context answers as Jinja before any hook
# runs, so text with template syntax cannot reach a bake unchanged.
bakeable_text = free_text.filter(
    lambda text: not any(mark in text for mark in ("{{", "{%", "{#"))
)


@settings(max_examples=max(3, MAX_EXAMPLES // 5))
@given(project_name=bakeable_text, description=bakeable_text, author_name=bakeable_text)
def test_any_free_text_bakes_intact_or_leaves_nothing(
    project_name: str,
    description: str,
    author_name: str,
    tmp_path_factory: pytest.TempPathFactory,
    cookiecutter_config: Path,
) -> None:
    from cookiecutter.exceptions import FailedHookException  # noqa: PLC0415

    answers = {
        "project_name": project_name,
        "description": description,
        "author_name": author_name,
        "init_git": "no",
    }
    output = tmp_path_factory.mktemp("property-bake")
    accepted = hook.validate(render_answers(**answers)) == []
    event("accepted" if accepted else "refused")
    if not accepted:
        with pytest.raises(FailedHookException):
            bake(output, cookiecutter_config, answers)
        assert list(output.iterdir()) == []
        return
    project = bake(output, cookiecutter_config, answers)
    for path in structured_files(project):
        parse_structured(path)
    for path in project.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    check_project_files(read_project(project), render_answers(**answers))

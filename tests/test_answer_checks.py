"""The answer checks refuse what would break a project, and say how to fix it.

These tests import template_answers.py as plain Python and call ``validate``
directly; cookiecutter runs it in-process, before the project folder exists.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import (
    LICENSES,
    REPO,
    Bake,
    answer_rules,
    choices,
    render_answers,
    template_env,
    variant_folders,
)

hook = answer_rules()
SUGGESTION = re.compile(r": try (?P<value>.+)$")

# (answers, field the message must name, words it must contain)
REFUSALS: list[tuple[dict[str, str], str, str]] = [
    ({"project_name": ""}, "project_name", "is empty"),
    ({"project_name": "   "}, "project_name", "is empty"),
    ({"project_name": "!!!"}, "project_name", "no letter or digit"),
    ({"project_name": "🚀🤖"}, "project_name", "no letter or digit"),
    ({"project_name": "'''\"\"\""}, "project_name", "no letter or digit"),
    ({"project_name": "x" * 101}, "project_name", "longer than 100"),
    ({"project_name": "two\nlines"}, "project_name", "line break"),
    ({"project_name": "nul\x00"}, "project_name", "control character U+0000"),
    ({"project_name": "3d-model"}, "project_name", "must start with a lowercase"),
    ({"project_name": "for"}, "project_name", "a Python keyword"),
    ({"project_name": "class"}, "project_name", "a Python keyword"),
    ({"project_name": "Match"}, "project_name", "soft keyword"),
    ({"project_name": "type"}, "project_name", "soft keyword"),
    ({"project_name": "json"}, "project_name", "standard-library module 'json'"),
    ({"project_name": "Logging"}, "project_name", "standard-library"),
    ({"project_name": "mlflow"}, "project_name", "clashes with 'mlflow'"),
    ({"project_name": "FastAPI"}, "project_name", "clashes with 'fastapi'"),
    ({"project_name": "torch"}, "project_name", "clashes with 'torch'"),
    ({"project_name": "test"}, "project_name", "clashes with 'test'"),
    ({"project_name": "Scikit Learn"}, "project_name", "clashes with 'scikit_learn'"),
    ({"project_name": "bad \udc80 byte"}, "project_name", "lone surrogate U+DC80"),
    ({"project_name": "\udc80for"}, "project_name", "lone surrogate U+DC80"),
    ({"author_email": "ada\udc80@example.com"}, "author_email", "lone surrogate"),
    ({"project_slug": "My Model"}, "project_slug", "must start with a lowercase"),
    ({"project_slug": "my--model"}, "project_slug", "single hyphens"),
    ({"project_slug": "pandas"}, "project_slug", "gives package name 'pandas'"),
    ({"package_name": "My-Model"}, "package_name", "must start with a lowercase"),
    ({"package_name": "_private"}, "package_name", "must start with a lowercase"),
    ({"package_name": "import"}, "package_name", "is a Python keyword"),
    ({"package_name": "os"}, "package_name", "shadows the standard-library"),
    ({"package_name": "numpy"}, "package_name", "clashes with 'numpy'"),
    ({"description": "d" * 301}, "description", "longer than 300"),
    ({"description": "first\nsecond"}, "description", "line break"),
    ({"description": "tab\there"}, "description", "control character U+0009"),
    ({"description": "para\u2029graph"}, "description", "line break (U+2029)"),
    ({"author_name": ""}, "author_name", "is empty"),
    ({"author_name": "a" * 101}, "author_name", "longer than 100"),
    ({"author_name": "Ada\r\nLovelace"}, "author_name", "line break"),
    ({"author_email": "ada"}, "author_email", "email address"),
    ({"author_email": "ada@localhost"}, "author_email", "email address"),
    ({"author_email": "ada@example.com\n"}, "author_email", "email address"),
    ({"author_email": "a b@example.com"}, "author_email", "email address"),
    ({"github_username": "-ada"}, "github_username", "GitHub"),
    ({"github_username": "ada--lovelace"}, "github_username", "GitHub"),
    ({"github_username": "ada_lovelace"}, "github_username", "GitHub"),
    ({"github_username": "a" * 40}, "github_username", "GitHub"),
    ({"github_username": ""}, "github_username", "GitHub"),
    ({"python_version": "3.10"}, "python_version", "3.11, 3.12, 3.13"),
    ({"variant": "bogus"}, "variant", "this template provides"),
    ({"license": "GPL-3.0"}, "license", "this template ships"),
    ({"init_git": "maybe"}, "init_git", "yes or no"),
]


def problems_for(**answers: Any) -> list[str]:
    return list(hook.validate(render_answers(**answers)))


def suggestion(message: str) -> str:
    match = SUGGESTION.search(message)
    assert match, f"no `try <value>` in {message!r}"
    value = ast.literal_eval(match.group("value"))
    assert isinstance(value, str)
    return value


def test_default_answers_are_accepted() -> None:
    assert problems_for() == []


@pytest.mark.parametrize(
    "name",
    ["Churn Risk Service", "Café Modèle 模型", 'O\'Brien "Model" \\ v2', "A" * 100],
)
def test_reasonable_names_are_accepted(name: str) -> None:
    assert problems_for(project_name=name) == []


@pytest.mark.parametrize(("answers", "field", "words"), REFUSALS)
def test_refusal_names_the_field_the_value_and_the_reason(
    answers: dict[str, str], field: str, words: str
) -> None:
    problems = problems_for(**answers)
    assert len(problems) == 1, problems
    (message,) = problems
    assert message.startswith(f"{field} ")
    assert words in message
    value = answers[field]
    shown = repr(value if len(value) <= 40 else value[:37])
    assert shown in message
    assert "\n" not in message


@pytest.mark.parametrize(("answers", "field", "words"), REFUSALS)
def test_every_refusal_suggests_a_value_that_is_accepted(
    answers: dict[str, str], field: str, words: str
) -> None:
    (message,) = problems_for(**answers)
    fixed = {**answers, field: suggestion(message)}
    assert problems_for(**fixed) == [], f"{words}: suggestion {fixed[field]!r}"


def test_keyword_name_suggests_the_name_with_a_suffix() -> None:
    (message,) = problems_for(project_name="for")
    assert message == (
        "project_name 'for' gives package name 'for', a Python keyword: try 'for-model'"
    )


def test_all_problems_are_reported_at_once_in_question_order() -> None:
    problems = problems_for(
        project_name="json",
        author_email="nope",
        github_username="-",
        python_version="2.7",
    )
    fields = [message.split(" ", 1)[0] for message in problems]
    assert fields == [
        "project_name",
        "author_email",
        "github_username",
        "python_version",
    ]


def test_long_values_are_shortened_in_messages() -> None:
    (message,) = problems_for(project_name="x" * 500)
    assert "(500 characters)" in message
    assert len(message) < 300


@pytest.mark.parametrize("field", ["project_name", "author_email", "init_git"])
def test_missing_or_non_text_answers_are_refused(field: str) -> None:
    answers = render_answers()
    answers[field] = 42
    assert any(m.startswith(f"{field} 42 must be text") for m in hook.validate(answers))
    del answers[field]
    assert any(m.startswith(f"{field} None is missing") for m in hook.validate(answers))


@given(st.text(max_size=120))
def test_hook_derives_the_same_folder_name_as_cookiecutter_json(name: str) -> None:
    rendered = render_answers(project_name=name)
    assert hook.derive_slug(name) == rendered["project_slug"]
    assert hook.derive_package(rendered["project_slug"]) == rendered["package_name"]


def test_hook_options_match_cookiecutter_json() -> None:
    assert list(hook.SUPPORTED_PYTHON_VERSIONS) == choices("python_version")
    assert list(hook.LICENSES) == choices("license")
    shipped = {path.name for path in LICENSES.iterdir()}
    assert shipped == set(hook.LICENSES) - {hook.NO_LICENSE}
    assert sorted(hook.YES_NO) == sorted(choices("init_git"))
    slug_expression = json.loads((REPO / "cookiecutter.json").read_text())[
        "project_slug"
    ]
    assert f"'{hook.INVALID_SLUG}'" in slug_expression


def test_every_variant_has_an_overlay_folder() -> None:
    assert set(choices("variant")) <= variant_folders()


BAKED_ANSWERS = {"python_version": "3.11", "license": "MIT", "init_git": "no"}
# Each variant on the worker that already bakes it with these answers.
EVERY_VARIANT_BAKED = pytest.mark.parametrize(
    "variant",
    [
        pytest.param(v, marks=pytest.mark.xdist_group(f"{v}-3.11-MIT-no"))
        for v in choices("variant")
    ],
)


def _normalise(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "_", name).lower()


@EVERY_VARIANT_BAKED
def test_package_name_may_not_shadow_any_dependency_of_the_generated_project(
    baked: Bake, variant: str
) -> None:
    project = baked(variant=variant, **BAKED_ANSWERS)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    requirements = list(pyproject["project"].get("dependencies", []))
    for group in pyproject.get("dependency-groups", {}).values():
        requirements += [r for r in group if isinstance(r, str)]
    requirements += pyproject.get("build-system", {}).get("requires", [])
    names = {_normalise(r) for r in requirements}
    # Stub-only distributions install no importable module of that name.
    importable = {
        n for n in names if not n.endswith("_stubs") and not n.startswith("types_")
    }
    assert sorted(importable - hook.RESERVED_IMPORT_NAMES) == []


@EVERY_VARIANT_BAKED
def test_package_name_may_not_shadow_a_helper_module_of_the_generated_tests(
    baked: Bake, variant: str
) -> None:
    # tests/ is on the test run's import path, ahead of the installed package.
    project = baked(variant=variant, **BAKED_ANSWERS)
    helpers = {
        path.stem
        for path in (project / "tests").glob("*.py")
        if not path.stem.startswith("test_")
    }
    assert "conftest" in helpers
    assert sorted(helpers - hook.RESERVED_IMPORT_NAMES) == []


# Every code point but lone surrogates: UTF-8 cannot hold those, and the answer
# checks refuse them before the hook renders (the "lone surrogate" cases above).
any_text = st.one_of(
    st.text(),
    st.lists(
        st.integers(0, 0x10FFFF)
        .filter(lambda code: not 0xD800 <= code <= 0xDFFF)
        .map(chr)
    ).map("".join),
)


@given(
    st.dictionaries(
        st.sampled_from(["project_name", "description", "author_name"]), any_text
    )
)
def test_answers_reach_the_hook_intact_through_its_tojson_line(
    answers: dict[str, str],
) -> None:
    source = (REPO / "hooks" / "post_gen_project.py").read_text("utf-8")
    context = {**render_answers(), **answers}
    # Cookiecutter renders hooks from inside the template folder.
    with contextlib.chdir(REPO):
        rendered = template_env().from_string(source).render(cookiecutter=context)
    calls = [
        node
        for node in ast.walk(ast.parse(rendered))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "json.loads"
    ]
    assert len(calls) == 1
    literal = calls[0].args[0]
    assert isinstance(literal, ast.Constant)
    assert isinstance(literal.value, str)
    given = json.loads(literal.value)
    assert given["answers"] == context
    assert given["template"] == str(REPO)


def test_cookiecutter_json_asks_the_agreed_questions() -> None:
    questions = [
        key
        for key in json.loads((REPO / "cookiecutter.json").read_text())
        if not key.startswith("_")
    ]
    assert questions == list(hook.FIELDS)

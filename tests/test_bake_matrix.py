"""Every option set bakes into exactly the files its variant needs, fully rendered."""

from __future__ import annotations

import itertools
import subprocess

import pytest

from support import (
    FRAGMENTS_DIR,
    NO_LICENSE,
    OVERLAYS,
    Bake,
    choices,
    expected_files,
    filled_by_hook,
    parse_structured,
    project_files,
    project_layout,
    read_text,
    render_answers,
    structured_files,
    template_leftovers,
)

OPTION_SETS = [
    {
        "variant": variant,
        "python_version": python,
        "license": license_id,
        "init_git": git,
    }
    for variant, python, license_id, git in itertools.product(
        choices("variant"),
        choices("python_version"),
        choices("license"),
        choices("init_git"),
    )
]


def option_id(options: dict[str, str]) -> str:
    return "-".join(options.values())


# Each option set is baked once per xdist worker: keep its tests on one worker.
matrix = pytest.mark.parametrize(
    "options",
    [
        pytest.param(
            options,
            id=option_id(options),
            marks=pytest.mark.xdist_group(option_id(options)),
        )
        for options in OPTION_SETS
    ],
)


@matrix
def test_every_option_set_bakes_exactly_the_expected_files(
    baked: Bake, options: dict[str, str]
) -> None:
    project = baked(**options)
    expected = expected_files(render_answers(**options))
    actual = project_files(project)
    assert sorted(actual - expected) == [], "files the template tree does not explain"
    assert sorted(expected - actual) == [], "files of the template tree missing"


@matrix
def test_no_template_syntax_is_left_in_any_file(
    baked: Bake, options: dict[str, str]
) -> None:
    project = baked(**options)
    leftovers = {}
    for name in sorted(project_files(project)):
        text = read_text(project / name)
        if text is not None and template_leftovers(text):
            leftovers[name] = template_leftovers(text)[:3]
    assert leftovers == {}


@matrix
def test_no_fragment_of_a_shared_file_is_left(
    baked: Bake, options: dict[str, str]
) -> None:
    project = baked(**options)
    staged = [
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.name == FRAGMENTS_DIR
    ]
    assert staged == []


@matrix
def test_license_file_exists_iff_a_license_is_chosen_and_names_the_author(
    baked: Bake, options: dict[str, str]
) -> None:
    project = baked(**options)
    license_file = project / "LICENSE"
    if options["license"] == NO_LICENSE:
        assert not license_file.exists()
    else:
        text = license_file.read_text(encoding="utf-8")
        author = render_answers(**options)["author_name"]
        assert f"{author}\n" in text
        assert not template_leftovers(text)


@matrix
def test_git_repository_exists_iff_init_git_with_everything_committed(
    baked: Bake, options: dict[str, str]
) -> None:
    project = baked(**options)
    if options["init_git"] == "no":
        assert not (project / ".git").exists()
        return

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=project, capture_output=True, text=True, check=True
        ).stdout.strip()

    answers = render_answers(**options)
    assert git("status", "--porcelain", "--untracked-files=all") == ""
    assert git("rev-list", "--count", "HEAD") == "1"
    assert git("branch", "--show-current") == "main"
    assert git("log", "-1", "--format=%an <%ae>") == (
        f"{answers['author_name']} <{answers['author_email']}>"
    )


@matrix
def test_every_toml_yaml_and_json_file_parses(
    baked: Bake, options: dict[str, str]
) -> None:
    project = baked(**options)
    broken = {}
    for path in structured_files(project):
        try:
            parse_structured(path)
        except Exception as error:
            broken[path.relative_to(project).as_posix()] = repr(error)
    assert broken == {}
    assert (project / "pyproject.toml") in structured_files(project)


@matrix
def test_every_python_file_compiles(baked: Bake, options: dict[str, str]) -> None:
    project = baked(**options)
    sources = sorted(project.rglob("*.py"))
    assert sources, "a project without Python sources"
    for path in sources:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)


def test_the_matrix_covers_every_choice_of_cookiecutter_json() -> None:
    size = 1
    for key in ("variant", "python_version", "license", "init_git"):
        size *= len(choices(key))
    assert len(OPTION_SETS) == size


def test_expected_file_set_comes_from_the_template_tree() -> None:
    """Guard the oracle itself: it sees overlays and hidden files."""
    context = render_answers(license="MIT")
    expected = expected_files(context)
    package = context["package_name"]
    assert "LICENSE" in expected
    assert "pyproject.toml" in expected
    assert any(name.startswith(f"src/{package}/") for name in expected)
    assert any(name.startswith(".") for name in expected)
    assert not any(FRAGMENTS_DIR in name for name in expected)
    other = next(v for v in choices("variant") if v != context["variant"])
    assert expected != expected_files({**context, "variant": other})
    assert "LICENSE" not in expected_files({**context, "license": NO_LICENSE})


def test_files_marked_copy_without_render_arrive_byte_for_byte(baked: Bake) -> None:
    options = OPTION_SETS[0]
    project = baked(**options)
    context = render_answers(**options)
    copied = overlaid = 0
    for name, path in project_layout(context).items():
        if not filled_by_hook(path):
            continue
        fields = (b"{{ cookiecutter.", b"{{cookiecutter.")
        if any(field in path.read_bytes() for field in fields):
            continue  # filled in by the hook: test_post_gen checks it renders alike
        assert (project / name).read_bytes() == path.read_bytes(), name
        copied += 1
        overlaid += path.is_relative_to(OVERLAYS)
    assert copied > overlaid > 0

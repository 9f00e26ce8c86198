"""The post-generation hook copies the variant overlay in, never overwriting the
skeleton, fills the answers into the files Jinja does not render, and treats git as
optional."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from support import (
    REPO,
    bake_cli,
    choices,
    filled,
    filled_by_hook,
    filled_fields,
    post_generation,
    project_layout,
    read_text,
    render_answers,
    template_env,
)

hook = post_generation()
CACHES = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".*_cache", ".hypothesis"
)


def ignored_in_copy(folder: str, names: list[str]) -> set[str]:
    """Skip caches everywhere and the template's own tests at its root."""
    ignored = set(CACHES(folder, names))
    if Path(folder) == REPO:
        ignored.add("tests")
    return ignored


def make_tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name}\n", encoding="utf-8")


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_overlay_files_are_copied_to_the_project_root_fragments_aside(
    tmp_path: Path,
) -> None:
    project, overlays = tmp_path / "project", tmp_path / "variants"
    make_tree(project, ["README.txt", "src/pkg/__init__.py"])
    make_tree(
        overlays,
        [
            "serving/src/pkg/api.py",
            "serving/.github/extra.yml",
            "serving/_fragments/dependencies.toml",
            "other/src/pkg/other.py",
        ],
    )
    (overlays / "serving/empty").mkdir()
    hook.apply_overlay(overlays / "serving", project)
    assert tree(project) == {
        "README.txt",
        "src/pkg/__init__.py",
        "src/pkg/api.py",
        ".github/extra.yml",
    }
    assert (project / "src/pkg/api.py").read_text("utf-8") == (
        "serving/src/pkg/api.py\n"
    )
    assert (project / "empty").is_dir()
    assert (overlays / "serving/src/pkg/api.py").is_file(), "the template is kept"


def test_overlay_names_are_filled_from_the_answers(tmp_path: Path) -> None:
    project, overlay = tmp_path / "project", tmp_path / "serving"
    project.mkdir()
    make_tree(overlay, ["src/{{cookiecutter.package_name}}/api.py"])
    hook.apply_overlay(overlay, project, {"{{cookiecutter.package_name}}": "churn"})
    assert tree(project) == {"src/churn/api.py"}


def test_overlay_that_would_overwrite_a_skeleton_file_is_refused_by_name(
    tmp_path: Path,
) -> None:
    project, overlay = tmp_path / "project", tmp_path / "serving"
    make_tree(project, ["Makefile", "src/a.py"])
    make_tree(overlay, ["Makefile", "src/a.py", "src/b.py"])
    before = tree(project)
    with pytest.raises(hook.OverlayError, match=r"Makefile, src/a\.py"):
        hook.apply_overlay(overlay, project)
    assert tree(project) == before


def test_overlay_file_below_a_skeleton_file_is_refused(tmp_path: Path) -> None:
    project, overlay = tmp_path / "project", tmp_path / "serving"
    make_tree(project, ["data"])
    make_tree(overlay, ["data/rows.csv"])
    with pytest.raises(hook.OverlayError, match=r"data/rows\.csv"):
        hook.apply_overlay(overlay, project)


@pytest.mark.parametrize("license_id", ["MIT", "none"])
def test_only_the_chosen_license_is_written_with_its_fields_filled(
    tmp_path: Path, license_id: str
) -> None:
    project, licenses = tmp_path / "project", tmp_path / "licenses"
    project.mkdir()
    make_tree(licenses, ["MIT", "Apache-2.0"])
    (licenses / "MIT").write_text("(c) {{ cookiecutter.author_name }}\n")
    chosen = hook.license_text(licenses, project, license_id)
    hook.place_license(chosen, project, {"{{ cookiecutter.author_name }}": "Ada"})
    if license_id == "none":
        assert tree(project) == set()
    else:
        assert (project / "LICENSE").read_text() == "(c) Ada\n"
        assert tree(project) == {"LICENSE"}


def test_a_field_written_as_a_tag_alone_is_filled_and_binary_left_alone() -> None:
    year = "{% now 'utc', '%Y' %}"
    assert hook.filled_bytes(f"(c) {year}\n".encode(), {year: "2026"}) == b"(c) 2026\n"
    binary = b"\x89PNG{{ cookiecutter.package_name }}\xff"
    assert hook.filled_bytes(binary, {"{{ cookiecutter.package_name }}": "x"}) == binary
    assert hook.fill("{{ cookiecutter.package_name }}", {}) == (
        "{{ cookiecutter.package_name }}"
    )


def test_answers_no_check_ran_on_stop_generation_naming_the_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cookiecutter that does not render `__` entries never ran the checks."""
    monkeypatch.chdir(tmp_path)
    answers = {**render_answers(), "__answers_checked": "{{ cookiecutter | x }}"}
    given = {"answers": answers, "fields": {}, "template": str(REPO)}

    assert hook.main(given) == 1
    assert "cookiecutter>=2.6" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_license_without_a_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(hook.OverlayError, match="'GPL' has no text"):
        hook.license_text(tmp_path, tmp_path, "GPL")


def test_missing_overlay_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        hook.OverlayError, match="no overlay folder templates/variants/rag"
    ):
        hook.apply_overlay(tmp_path / "rag", tmp_path)


# --- Through cookiecutter ------------------------------------------------------


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    """A private copy of the template, for tests that break it on purpose."""
    copy = tmp_path / "template"
    shutil.copytree(REPO, copy, ignore=ignored_in_copy)
    return copy


def test_overlay_clash_stops_generation_and_leaves_nothing(
    template_copy: Path, tmp_path: Path, cookiecutter_config: Path
) -> None:
    clash = template_copy / "templates" / "variants" / "serving" / "Makefile"
    clash.write_text("all:\n", encoding="utf-8")
    output = tmp_path / "out"
    output.mkdir()
    result = bake_cli(output, cookiecutter_config, {"init_git": "no"}, template_copy)
    assert result.returncode != 0
    assert "overlay would overwrite skeleton files: Makefile" in result.stderr
    assert list(output.iterdir()) == []


def git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    config = tmp_path / "gitconfig"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))


def git_out(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_generation_without_git_succeeds_and_says_so(
    fresh_bake: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    no_tools = tmp_path / "empty-path"
    no_tools.mkdir()
    monkeypatch.setenv("PATH", str(no_tools))
    project = fresh_bake({"init_git": "yes"})
    assert (project / "pyproject.toml").is_file()
    assert not (project / ".git").exists()
    assert "git is not installed" in capfd.readouterr().err


def test_first_commit_uses_the_answers_when_git_has_no_identity(
    fresh_bake: Callable[..., Path],
) -> None:
    author = 'O\'Brien "Model" \\ v2'
    project = fresh_bake({"author_name": author, "author_email": "ob@example.org"})
    assert git_out(project, "log", "-1", "--format=%an|%ae") == (
        f"{author}|ob@example.org"
    )
    # Only that commit borrowed the identity: nothing is written to config.
    local = subprocess.run(
        ["git", "config", "--local", "--get", "user.name"],
        cwd=project,
        capture_output=True,
        check=False,
    )
    assert local.returncode != 0


def test_configured_git_identity_and_default_branch_are_respected(
    fresh_bake: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_config(
        tmp_path,
        monkeypatch,
        "[user]\n\tname = Configured Person\n\temail = configured@example.net\n"
        "[init]\n\tdefaultBranch = trunk\n",
    )
    project = fresh_bake({"init_git": "yes"})
    assert git_out(project, "log", "-1", "--format=%an <%ae>") == (
        "Configured Person <configured@example.net>"
    )
    assert git_out(project, "branch", "--show-current") == "trunk"


def test_failing_first_commit_keeps_the_project_and_says_so(
    fresh_bake: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Signing with a program that always fails makes `git commit` fail.
    git_config(
        tmp_path, monkeypatch, "[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = false\n"
    )
    project = fresh_bake({"init_git": "yes"})
    assert (project / "pyproject.toml").is_file()
    assert "the first commit failed" in capfd.readouterr().err


@pytest.mark.parametrize("variant", choices("variant"))
def test_next_steps_name_the_folder_and_make_targets_that_exist(
    fresh_bake: Callable[..., Path], capfd: pytest.CaptureFixture[str], variant: str
) -> None:
    project = fresh_bake({"init_git": "no", "variant": variant})
    out = capfd.readouterr().out
    assert f"cd {project}" in out or f"cd {project.name}" in out
    named = re.findall(r"^  make ([\w-]+) +# (.+)$", out, re.MULTILINE)
    makefiles = "\n".join(
        (project / name).read_text(encoding="utf-8") for name in hook.MAKEFILES
    )
    assert named[0][0] == "install"
    assert {"install", "check", "serve"} <= {target for target, _ in named}
    for target, description in named:
        pattern = rf"^{re.escape(target)}:.*## {re.escape(description)}$"
        assert re.search(pattern, makefiles, re.MULTILINE), target


def test_existing_project_folder_is_never_overwritten(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    output = tmp_path / "out"
    first = bake_cli(output, cookiecutter_config, {"init_git": "no"})
    assert first.returncode == 0, first.stderr
    (project,) = output.iterdir()
    marker = project / "mine.txt"
    marker.write_text("my work\n", encoding="utf-8")
    again = bake_cli(output, cookiecutter_config, {"init_git": "no"})
    assert again.returncode != 0
    assert "already exists" in again.stdout + again.stderr
    assert marker.read_text("utf-8") == "my work\n"


@pytest.mark.parametrize("absent", ["uv", "make"])
def test_next_steps_say_how_to_install_a_missing_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, absent: str
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        hook.shutil, "which", lambda name: None if name == absent else real_which(name)
    )

    steps = hook.next_steps(tmp_path, ["install", "check"])

    lines = steps.splitlines()
    install = lines.index("Install first:")
    assert lines[install + 1].startswith(f"  {absent} is not installed: ")
    assert hook.REQUIRED_TOOLS[absent] in lines[install + 1]
    assert install < lines.index("Next steps:")


def test_next_steps_ask_for_nothing_when_the_tools_are_there(tmp_path: Path) -> None:
    assert shutil.which("uv")
    assert shutil.which("make")
    assert "Install first:" not in hook.next_steps(tmp_path, ["install", "check"])


@pytest.mark.parametrize("variant", choices("variant"))
def test_every_file_the_hook_fills_reads_as_jinja_would_render_it(
    variant: str,
) -> None:
    """The hook's plain substitution and Jinja agree on every text file it fills in
    (the skeleton's and the overlay's), and none asks for an answer it does not know."""
    context = render_answers(variant=variant, project_name="Zz Top 2", author_name="{{")
    checked = 0
    for name, path in project_layout(context).items():
        text = read_text(path)
        if text is None or not filled_by_hook(path):
            continue
        assert hook.unknown_fields(text, filled_fields(context)) == [], name
        if "{{ cookiecutter" in text:
            rendered = template_env().from_string(text).render(cookiecutter=context)
            assert filled(text, context) == rendered, name
            checked += 1

    assert checked > 0


def test_an_answer_the_hook_cannot_fill_is_named() -> None:
    known = "{{ cookiecutter.project_slug }}"
    unknown = "{{ cookiecutter.author_email }}"
    chat = "{% for message in messages %}{{ message.content }}{% endfor %}"

    fields = filled_fields(render_answers())
    assert hook.unknown_fields(f"{known} {chat}", fields) == []
    assert hook.unknown_fields(f"x = '{unknown}'", fields) == ["{{ cookiecutter."]

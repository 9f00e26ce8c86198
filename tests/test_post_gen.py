"""The post-generation hook places the variant overlay and the license, never
overwriting the skeleton, and treats git as optional."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from support import (
    REPO,
    SKELETON,
    bake_cli,
    choices,
    filled,
    filled_by_hook,
    load_hook,
    read_text,
    render_answers,
    skeleton_files,
    template_env,
)

hook = load_hook("post_gen_project")
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


def test_overlay_files_move_to_the_project_root(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        [
            "README.txt",
            "src/pkg/__init__.py",
            "_variants/serving/src/pkg/api.py",
            "_variants/serving/.github/extra.yml",
            "_variants/other/src/pkg/other.py",
        ],
    )
    (tmp_path / "_variants/serving/empty").mkdir()
    hook.apply_overlay(tmp_path, "serving")
    assert tree(tmp_path) == {
        "README.txt",
        "src/pkg/__init__.py",
        "src/pkg/api.py",
        ".github/extra.yml",
    }
    assert (tmp_path / "src/pkg/api.py").read_text("utf-8") == (
        "_variants/serving/src/pkg/api.py\n"
    )
    assert (tmp_path / "empty").is_dir()


def test_overlay_that_would_overwrite_a_skeleton_file_is_refused_by_name(
    tmp_path: Path,
) -> None:
    make_tree(
        tmp_path,
        [
            "Makefile",
            "src/a.py",
            "_variants/serving/Makefile",
            "_variants/serving/src/a.py",
        ],
    )
    before = tree(tmp_path)
    with pytest.raises(hook.OverlayError, match=r"Makefile, src/a\.py"):
        hook.apply_overlay(tmp_path, "serving")
    assert tree(tmp_path) == before


def test_overlay_file_below_a_skeleton_file_is_refused(tmp_path: Path) -> None:
    make_tree(tmp_path, ["data", "_variants/serving/data/rows.csv"])
    with pytest.raises(hook.OverlayError, match=r"data/rows\.csv"):
        hook.apply_overlay(tmp_path, "serving")


def test_missing_overlay_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "_variants").mkdir()
    with pytest.raises(hook.OverlayError, match="no overlay folder _variants/rag"):
        hook.apply_overlay(tmp_path, "rag")


@pytest.mark.parametrize("license_id", ["MIT", "none"])
def test_only_the_chosen_license_is_kept(tmp_path: Path, license_id: str) -> None:
    make_tree(tmp_path, ["_licenses/MIT", "_licenses/Apache-2.0"])
    hook.place_license(tmp_path, license_id)
    expected = {"LICENSE"} if license_id != "none" else set()
    assert tree(tmp_path) == expected


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
    skeleton = template_copy / "{{cookiecutter.project_slug}}"
    clash = skeleton / "_variants" / "serving" / "Makefile"
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
    for path in skeleton_files():
        relative = path.relative_to(SKELETON).as_posix()
        text = read_text(path)
        overlay = relative.split("/")[1] if relative.startswith("_variants/") else None
        if overlay not in {None, variant} or text is None:
            continue
        if not filled_by_hook(relative):
            continue
        assert hook.unknown_fields(text) == [], relative
        if "{{ cookiecutter" in text:
            rendered = template_env().from_string(text).render(cookiecutter=context)
            assert filled(text, context) == rendered, relative
            checked += 1

    assert checked > 0


def test_an_answer_the_hook_cannot_fill_is_named() -> None:
    known = "{{ cookiecutter.project_slug }}"
    unknown = "{{ cookiecutter.author_email }}"
    chat = "{% for message in messages %}{{ message.content }}{% endfor %}"

    assert hook.unknown_fields(f"{known} {chat}") == []
    assert hook.unknown_fields(f"x = '{unknown}'") == ["{{ cookiecutter."]

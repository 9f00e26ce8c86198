"""Wire the chosen variant into the generated project, then tidy up.

Cookiecutter renders this file with Jinja (only the ``tojson`` lines in ``main``
have template syntax) and runs it inside the generated project. A non-zero exit
makes cookiecutter delete the project, so every check happens before anything is
written.

Cookiecutter renders only the skeleton's files that need Jinja and copies the rest
as they are (`_copy_without_render`). The variant overlays live outside the folder
cookiecutter walks (`templates/variants/<variant>/`): this hook copies the chosen
one into the project. It then fills in the few answer fields that the copied files
hold (`OVERLAY_FIELDS`), in paths and in text, so those files are plain files that
need no Jinja and no escaping of Jinja's own delimiters.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# Where the overlays sit in the template folder, one folder per row of the table.
OVERLAYS_DIR = "templates/variants"
# What an overlay adds to shared files (pyproject.toml, compose.yaml, README.md…):
# Jinja includes it where they render, so it is not a file of the project.
FRAGMENTS_DIR = "_fragments"
FIRST_COMMIT_MESSAGE = "Initial commit from ml-portfolio-template"
GIT_TIMEOUT_S = 120


# What the files that are copied without rendering (the skeleton's code and tests,
# every overlay file) may say of the answers, and the answer that replaces it.
# Jinja's delimiters are built, not written: cookiecutter renders this file too.
OPEN, CLOSE, TAG = "{" + "{", "}" + "}", "{" + "%"
OVERLAY_FIELDS = {
    f"{OPEN} cookiecutter.package_name {CLOSE}": "package_name",
    f"{OPEN}cookiecutter.package_name{CLOSE}": "package_name",
    f"{OPEN} cookiecutter.project_slug {CLOSE}": "project_slug",
}
_FIELD = re.compile("|".join(re.escape(expression) for expression in OVERLAY_FIELDS))
# Any other Jinja that speaks of the answers: a copied file cannot use it (chat
# templates and other Jinja that does not are fine: they are never rendered).
_UNKNOWN_FIELD = re.compile(
    rf"({re.escape(OPEN)}|{re.escape(TAG)})[^\n]*?cookiecutter\."
)


class OverlayError(Exception):
    """The variant overlay cannot be placed without overwriting the skeleton."""


def fill(text: str, answers: dict[str, str]) -> str:
    """`text` with every overlay field replaced by its answer, in one pass."""
    return _FIELD.sub(lambda match: answers[OVERLAY_FIELDS[match.group(0)]], text)


def unknown_fields(text: str) -> list[str]:
    """Answers a copied file asks for that `fill` would leave as they are (a
    template bug: add the expression to OVERLAY_FIELDS)."""
    remaining = _FIELD.sub("", text)
    return [match.group(0) for match in _UNKNOWN_FIELD.finditer(remaining)]


def fill_file(path: Path, answers: dict[str, str]) -> None:
    """Fill the fields of a text file in place; binary files are left alone."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return
    if OPEN in text:
        path.write_text(fill(text, answers), encoding="utf-8")


def fill_project(project: Path, answers: dict[str, str]) -> None:
    """Fill the fields of every file copied without rendering; the files Jinja
    rendered hold no field any more, so they are read and left alone."""
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(project).parts:
            fill_file(path, answers)


def overlay_copies(
    overlay: Path, project: Path, answers: dict[str, str] | None = None
) -> list[tuple[Path, Path]]:
    """Plan (source, destination) pairs for every file and folder of the overlay.

    Overlays add files, they never replace one: a destination that already exists
    (or a folder where the overlay has a file) is an error naming each clash.
    """
    if not overlay.is_dir():
        msg = f"variant {overlay.name!r} has no overlay folder {OVERLAYS_DIR}/"
        raise OverlayError(msg + overlay.name)
    copies: list[tuple[Path, Path]] = []
    clashes: list[str] = []
    for source in sorted(overlay.rglob("*")):
        relative = source.relative_to(overlay).as_posix()
        if relative.split("/")[0] == FRAGMENTS_DIR:
            continue
        destination = project / (fill(relative, answers) if answers else relative)
        if any(parent.is_file() for parent in destination.parents):
            clashes.append(relative)
        elif source.is_dir() and not source.is_symlink():
            if destination.exists() and not destination.is_dir():
                clashes.append(relative)
        elif destination.exists() or destination.is_symlink():
            clashes.append(relative)
        copies.append((source, destination))
    if clashes:
        listed = ", ".join(clashes)
        msg = (
            f"variant {overlay.name!r} overlay would overwrite skeleton files: "
            f"{listed}; overlays only add files, so keep each file either in the "
            "skeleton or in the variant overlays"
        )
        raise OverlayError(msg)
    return copies


def apply_overlay(
    overlay: Path, project: Path, answers: dict[str, str] | None = None
) -> None:
    """Copy the chosen variant's files and folders into the project, the fields in
    their names filled from `answers` (if given; `fill_project` fills their text)."""
    for source, destination in overlay_copies(overlay, project, answers):
        if source.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            shutil.copymode(source, destination)


def git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git in the project without prompting, output captured."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        check=False,
    )


def init_git(project: Path, author_name: str, author_email: str) -> str | None:
    """Create the repository and its first commit; return a note when it cannot.

    Never fails the generation: a missing git or a failing commit only prints a
    note, because the project itself is complete either way.
    """
    if shutil.which("git") is None:
        return "git is not installed: the project was generated without git init."
    try:
        # GitHub's default branch, unless the person chose their own default.
        configured = git(project, "config", "--get", "init.defaultBranch")
        branch = [] if configured.returncode == 0 else ["--initial-branch=main"]
        initialised = git(project, "init", *branch)
        if initialised.returncode != 0:
            return f"git init failed: {initialised.stderr.strip()}"
        added = git(project, "add", "--all")
        if added.returncode != 0:
            return f"git init done, but git add failed: {added.stderr.strip()}"
        # The answers stand in for an identity only where git has none configured.
        identity: list[str] = []
        if git(project, "config", "user.name").returncode != 0:
            identity += ["-c", f"user.name={author_name}"]
        if git(project, "config", "user.email").returncode != 0:
            identity += ["-c", f"user.email={author_email}"]
        committed = git(
            project, *identity, "commit", "--no-verify", "-m", FIRST_COMMIT_MESSAGE
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"git could not run ({error}); run git init yourself."
    if committed.returncode != 0:
        reason = (committed.stderr or committed.stdout).strip().splitlines()
        detail = reason[-1] if reason else f"exit status {committed.returncode}"
        return f"git init done, but the first commit failed: {detail}"
    return None


def shown_path(project: Path) -> str:
    """Return the project path as the person would type it from their shell."""
    here = os.environ.get("PWD")
    if here:
        try:
            relative = project.relative_to(Path(here).resolve())
        except ValueError:
            pass
        else:
            return shlex.quote(relative.as_posix())
    return shlex.quote(str(project))


# The first targets a person runs come from the variant's row of cookiecutter.json's
# `_variant_table`; their descriptions from the generated Makefiles' `## ` comments,
# so the two never disagree.
MAKEFILES = ("Makefile", "project.mk")
VARIANT_TABLE = "_variant_table"
MAKE_HELP = re.compile(r"^([A-Za-z][\w-]*):[^#\n]*## (.+)$", re.MULTILINE)
# Every generated target runs through these two; how to get each one.
REQUIRED_TOOLS = {
    "uv": "python -m pip install uv   (or see https://docs.astral.sh/uv/)",
    "make": "apt-get install make (Debian, Ubuntu) or xcode-select --install (macOS)",
}


def missing_tools() -> list[str]:
    """One line per tool the next steps need and PATH lacks, with how to install it."""
    return [
        f"  {tool} is not installed: {how}"
        for tool, how in REQUIRED_TOOLS.items()
        if shutil.which(tool) is None
    ]


def next_steps(project: Path, first_targets: list[str]) -> str:
    """Return the short guide printed after a successful generation."""
    described: dict[str, str] = {}
    for name in MAKEFILES:
        makefile = project / name
        if makefile.is_file():
            described.update(MAKE_HELP.findall(makefile.read_text(encoding="utf-8")))
    targets = first_targets or ["install", "check"]
    width = max(len(target) for target in targets)
    lines = [f"Generated {project.name}."]
    missing = missing_tools()
    if missing:
        lines += ["Install first:", *missing]
    lines += ["Next steps:", f"  cd {shown_path(project)}"]
    for target in targets:
        note = described.get(target)
        lines.append(f"  make {target:<{width}}" + (f"   # {note}" if note else ""))
    return "\n".join(lines)


def main() -> int:
    """Copy the overlay in, optionally init git, print next steps."""
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    # A one-item list: a JSON string's own quote would end the raw string early.
    template = Path(json.loads(r"""[{{ template_folder() | tojson }}]""")[0])
    project = Path.cwd().resolve()
    try:
        fields = {k: v for k, v in answers.items() if isinstance(v, str)}
        overlay = template / OVERLAYS_DIR / str(answers["variant"])
        apply_overlay(overlay, project, fields)
        fill_project(project, fields)
    except OverlayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if answers["init_git"] == "yes":
        note = init_git(
            project, str(answers["author_name"]), str(answers["author_email"])
        )
        if note:
            print(f"note: {note}", file=sys.stderr)
    row = answers.get(VARIANT_TABLE, {}).get(answers["variant"], {})
    print(next_steps(project, list(row.get("first_steps", []))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

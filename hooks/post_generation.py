"""What the post-generation hook does: wire the chosen variant into the generated
project, then tidy up.

``hooks/post_gen_project.py``, the hook itself, gets its input from cookiecutter in
its one Jinja line and calls ``main`` here, inside the generated project. This
module is never rendered by Jinja, so it writes Jinja's delimiters as they are.
A non-zero exit makes cookiecutter delete the project, so every check happens
before anything is written.

Cookiecutter renders only the skeleton's files that need Jinja and copies the rest
as they are (`_copy_without_render`). The variant overlays live outside the folder
cookiecutter walks (`templates/variants/<variant>/`): this copies the chosen one
into the project, and the chosen license text. Those copied files may hold a few
answer fields (the keys of ``fields``, listed in local_extensions.FILLED_FIELDS),
replaced here in paths and in text, so they are plain files that need no Jinja.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

# The hook runs once per generation, so its imports are most of its own time: what
# only annotations use is imported for the type checker alone, and subprocess only
# when git runs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Any

# Where the overlays sit in the template folder, one folder per row of the table,
# and the license texts, one per choice but "none".
OVERLAYS_DIR = "templates/variants"
LICENSES_DIR = "templates/licenses"
NO_LICENSE = "none"
# What an overlay adds to shared files (pyproject.toml, compose.yaml…): Jinja
# includes it where they render, so it is not a file of the project.
FRAGMENTS_DIR = "_fragments"
# The entry of cookiecutter.json that runs the answer checks as it renders, and what
# it renders to. A cookiecutter too old to render `__` entries skips the checks.
CHECKED_ENTRY, CHECKED = "__answers_checked", "yes"
UNCHECKED = (
    "this cookiecutter did not run the template's answer checks (it renders no "
    "`__` entries of cookiecutter.json); upgrade it to the version the template is "
    "tested with, python -m pip install -U 'cookiecutter>=2.6', and generate again"
)
FIRST_COMMIT_MESSAGE = "Initial commit from ml-portfolio-template"
GIT_TIMEOUT_S = 120
# Any Jinja that speaks of the answers: a copied file cannot use one that is not a
# filled field (chat templates and other Jinja that does not are fine).
_ANSWER_EXPRESSION = re.compile(r"(\{\{|\{%)[^\n]*?cookiecutter\.")


class OverlayError(Exception):
    """The variant overlay cannot be placed without overwriting the skeleton."""


@functools.cache
def _alternatives(choices: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(choice) for choice in choices))


def _fields_pattern(fields: dict[str, str]) -> re.Pattern[str]:
    return _alternatives(tuple(fields))


def fill(text: str, fields: dict[str, str]) -> str:
    """`text` with every field replaced by its value, in one pass."""
    if not fields:
        return text
    return _fields_pattern(fields).sub(lambda match: fields[match.group(0)], text)


def unknown_fields(text: str, fields: dict[str, str]) -> list[str]:
    """Answers a copied file asks for that `fill` would leave as they are (a
    template bug: add the expression to local_extensions.FILLED_FIELDS)."""
    remaining = _fields_pattern(fields).sub("", text) if fields else text
    return [match.group(0) for match in _ANSWER_EXPRESSION.finditer(remaining)]


def filled_bytes(data: bytes, fields: dict[str, str]) -> bytes:
    """The file's bytes with its fields filled; binary files are left alone."""
    if b"{{" not in data and b"{%" not in data:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return fill(text, fields).encode("utf-8")


def fill_copied_files(
    project: Path, patterns: list[str], fields: dict[str, str]
) -> None:
    """Fill the fields of the skeleton files cookiecutter copied without rendering
    (those matching `patterns`, or below a folder that does); the files Jinja
    rendered hold no field any more."""
    copied = re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns))
    for path in project.rglob("*"):
        relative = path.relative_to(project).as_posix()
        is_copied = any(copied.match(prefix) for prefix in _prefixes(relative))
        if is_copied and path.is_file():
            data = path.read_bytes()
            filled = filled_bytes(data, fields)
            if filled != data:
                path.write_bytes(filled)


def _prefixes(relative: str) -> list[str]:
    parts = relative.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]


def overlay_copies(
    overlay: Path, project: Path, fields: dict[str, str] | None = None
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
        inside = Path(fill(relative, fields) if fields else relative)
        destination = project / inside
        if any((project / parent).is_file() for parent in inside.parents):
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
    overlay: Path,
    project: Path,
    fields: dict[str, str] | None = None,
    copies: list[tuple[Path, Path]] | None = None,
) -> None:
    """Copy the chosen variant's files and folders into the project (`copies`, as
    `overlay_copies` plans them), the fields in their names and text filled."""
    if copies is None:
        copies = overlay_copies(overlay, project, fields)
    for source, destination in copies:
        if source.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        data = source.read_bytes()
        destination.write_bytes(filled_bytes(data, fields) if fields else data)
        shutil.copymode(source, destination)


def license_text(licenses: Path, project: Path, license_id: str) -> Path | None:
    """The text that becomes LICENSE (None for no license), checked before anything
    is written: it exists, and the skeleton has no LICENSE of its own."""
    if license_id == NO_LICENSE:
        return None
    text = licenses / license_id
    if not text.is_file():
        msg = f"license {license_id!r} has no text in {LICENSES_DIR}/"
        raise OverlayError(msg)
    if (project / "LICENSE").exists():
        msg = f"the skeleton already has a LICENSE; it must come from {LICENSES_DIR}/"
        raise OverlayError(msg)
    return text


def place_license(text: Path | None, project: Path, fields: dict[str, str]) -> None:
    """Write the license text as LICENSE, its fields filled (None: nothing)."""
    if text is not None:
        (project / "LICENSE").write_bytes(filled_bytes(text.read_bytes(), fields))


def git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git in the project without prompting, output captured."""
    import subprocess  # noqa: PLC0415  # see TYPE_CHECKING above

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
    from subprocess import SubprocessError  # noqa: PLC0415  # see TYPE_CHECKING above

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
    except (OSError, SubprocessError) as error:
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


def main(given: dict[str, Any]) -> int:
    """Fill the copied files, copy the overlay and license in, optionally init git,
    print next steps. `given` is local_extensions.post_generation_input's output."""
    answers, fields = given["answers"], given["fields"]
    if answers.get(CHECKED_ENTRY) != CHECKED:
        print(f"error: {UNCHECKED}", file=sys.stderr)
        return 1
    project = Path.cwd().resolve()
    try:
        template = Path(given["template"])
        overlay = template / OVERLAYS_DIR / str(answers["variant"])
        copies = overlay_copies(overlay, project, fields)
        chosen = license_text(template / LICENSES_DIR, project, str(answers["license"]))
        fill_copied_files(project, list(answers["_copy_without_render"]), fields)
        apply_overlay(overlay, project, fields, copies)
        place_license(chosen, project, fields)
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

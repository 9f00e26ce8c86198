"""A generated project takes template updates through cruft without losing edits.

The template is copied into a local git repository (no network), a project is
created from it with `cruft create`, the user edits the project, the template
moves on, and `cruft update` must bring the template's change while keeping the
user's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from support import REPO

GIT_IDENTITY = ["-c", "user.name=Template Test", "-c", "user.email=test@example.com"]


def run(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def git(cwd: Path, *args: str) -> str:
    return run("git", *GIT_IDENTITY, *args, cwd=cwd)


def template_repository(root: Path) -> Path:
    """A git repository holding the template's files as they are in this checkout."""
    template = root / "template"
    files = run(
        "git", "ls-files", "--cached", "--others", "--exclude-standard", cwd=REPO
    )
    for name in files.splitlines():
        if (REPO / name).is_file():
            (template / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, template / name)
    git(template, "init", "-q", "--initial-branch=main")
    git(template, "add", "--all")
    git(template, "commit", "-qm", "template v1")
    return template


def cruft() -> str:
    path = shutil.which("cruft")
    assert path, "cruft is in the template's dev dependency group"
    return path


def test_cruft_update_brings_template_changes_and_keeps_user_edits(
    tmp_path: Path,
) -> None:
    template = template_repository(tmp_path)
    out = tmp_path / "out"
    context = json.dumps({"init_git": "no", "variant": "serving"})
    run(
        cruft(),
        "create",
        str(template),
        "--no-input",
        "--output-dir",
        str(out),
        "--extra-context",
        context,
        cwd=tmp_path,
    )
    (project,) = out.iterdir()
    git(project, "init", "-q", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "-qm", "generated")

    # The user writes their own section at the end of the README.
    readme = project / "README.md"
    readme.write_text(
        readme.read_text() + "\n## Notes from the team\n\nOur own words.\n"
    )
    git(project, "commit", "-qam", "our notes")

    # The template moves on: a new setting documented and a README line near the
    # top, both in overlay files that the post-generation hook copies and fills.
    overlay = template / "templates" / "variants" / "serving"
    env_example = overlay / ".env.example"
    env_example.write_text(env_example.read_text() + "\n# FEATURE_FLAG=on\n")
    overlay_readme = overlay / "README.md"
    lines = overlay_readme.read_text().splitlines(keepends=True)
    lines.insert(1, "\n> Generated with ml-portfolio-template.\n")
    overlay_readme.write_text("".join(lines))
    git(template, "commit", "-qam", "template v2")
    head = git(template, "rev-parse", "HEAD").strip()

    run(cruft(), "update", "--skip-apply-ask", cwd=project)

    updated = readme.read_text()
    assert "> Generated with ml-portfolio-template." in updated
    assert updated.endswith("## Notes from the team\n\nOur own words.\n")
    assert "# FEATURE_FLAG=on" in (project / ".env.example").read_text()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == head
    assert not list(project.rglob("*.rej"))

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.platform.readme import (
    MissingSectionError,
    ReportError,
    read_json,
    replace_section,
    update_sections,
)

README = """# Title

Intro the author wrote.

<!-- results:metrics -->
| old | table |
<!-- /results:metrics -->

Closing words.
"""


def test_only_the_text_between_the_markers_changes() -> None:
    updated = replace_section(README, "metrics", "| new | table |")

    assert "| old | table |" not in updated
    assert "<!-- results:metrics -->\n| new | table |\n<!-- /results:metrics -->" in updated
    assert updated.startswith("# Title\n\nIntro the author wrote.\n")
    assert updated.endswith("Closing words.\n")


def test_replacing_twice_gives_the_same_text() -> None:
    once = replace_section(README, "metrics", "a\nb\n")

    assert replace_section(once, "metrics", "a\nb\n") == once


def test_bodies_with_regex_escapes_are_written_literally() -> None:
    body = r"| p \1 | \g<0> |"

    assert body in replace_section(README, "metrics", body)


def test_a_missing_section_is_named_with_the_fix() -> None:
    with pytest.raises(MissingSectionError, match=r"results:latency"):
        replace_section(README, "latency", "x")


def test_update_writes_all_sections_or_none(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(README, encoding="utf-8")

    with pytest.raises(MissingSectionError):
        update_sections(path, {"metrics": "new", "latency": "x"})
    assert path.read_text(encoding="utf-8") == README

    update_sections(path, {"metrics": "new"})
    assert "<!-- results:metrics -->\nnew\n<!-- /results:metrics -->" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]


@pytest.mark.parametrize("content", [None, "{not json"])
def test_unreadable_results_name_the_file_and_the_remedy(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "metrics.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(ReportError, match=r"metrics\.json.*run `make train` first"):
        read_json(path, "run `make train` first")

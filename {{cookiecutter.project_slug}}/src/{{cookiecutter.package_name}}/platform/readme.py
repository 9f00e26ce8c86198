"""Keeping the README's results in step with the results files, between markers.

A section is the text between `<!-- results:NAME -->` and `<!-- /results:NAME -->`;
everything outside the markers is the author's and is never touched.
"""

import json
import re
from pathlib import Path
from typing import Any

from .files import write_text


class MissingSectionError(ValueError):
    """The README has no marker pair for a section the report wants to write."""


class ReportError(RuntimeError):
    """A source the report needs is missing or unreadable; says what to run."""


def read_json(path: Path, remedy: str) -> dict[str, Any]:
    """A results file as a dict; a ReportError names the file and `remedy` if not."""
    try:
        payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path} is missing: {remedy}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON ({exc}): {remedy}") from None
    return payload


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- results:{re.escape(name)} -->\n).*?(<!-- /results:{re.escape(name)} -->)",
        re.DOTALL,
    )


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with the section `name` holding exactly `body` (plus a final newline)."""
    pattern = _pattern(name)
    if not pattern.search(text):
        raise MissingSectionError(
            f"README has no '<!-- results:{name} -->' ... '<!-- /results:{name} -->' "
            "pair: add both marker lines where the section should go"
        )
    content = body.rstrip("\n") + "\n"
    return pattern.sub(lambda match: match.group(1) + content + match.group(2), text, count=1)


def update_sections(path: Path, sections: dict[str, str]) -> None:
    """Rewrite the named sections of a README atomically: all of them or none."""
    text = path.read_text(encoding="utf-8")
    for name, body in sections.items():
        text = replace_section(text, name, body)
    write_text(path, text)

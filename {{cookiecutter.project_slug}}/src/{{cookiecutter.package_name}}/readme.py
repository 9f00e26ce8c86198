"""Keeping the README's results in step with the results files, between markers.

A section is the text between `<!-- results:NAME -->` and `<!-- /results:NAME -->`;
everything outside the markers is the author's and is never touched.
"""

import re
from pathlib import Path

from .files import write_text


class MissingSectionError(ValueError):
    """The README has no marker pair for a section the report wants to write."""


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

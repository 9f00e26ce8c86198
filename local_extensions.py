"""Jinja extensions of this template, loaded through ``_extensions`` in
cookiecutter.json (cookiecutter puts the template folder on ``sys.path``).

``FormatEscapes``: filters that turn free text into a complete literal of one target
format. Each returns the whole literal, quotes included where the format needs them,
so a template writes ``description = {{ cookiecutter.description | toml_str }}``
and never quotes by hand.

``AnswerChecks``: the ``checked_answers`` filter, through which the last entry of
cookiecutter.json renders, so every answer is checked before any file is written.

``HookInput``: the ``post_generation_input`` filter, which gives the
post-generation hook, in its one Jinja line, the answers, the template folder (where
the variant overlays it copies are) and the value of every answer field that the
files copied without rendering may hold (`FILLED_FIELDS`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from cookiecutter.exceptions import FailedHookException
from jinja2 import Environment
from jinja2.ext import Extension

from template_answers import validate

__all__ = [
    "FILLED_FIELDS",
    "AnswerChecks",
    "AnswersRefused",
    "FormatEscapes",
    "HookInput",
    "checked_answers",
    "docker_str",
    "filled_fields",
    "md_text",
    "post_generation_input",
    "template_folder",
    "toml_str",
    "yaml_str",
]

# C0 and C1 control characters plus DEL: never written raw into any target format.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Everything a reader would take as the end of a line.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _as_text(value: object, filter_name: str) -> str:
    text = value if isinstance(value, str) else str(value)
    surrogate = _SURROGATE.search(text)
    if surrogate:
        msg = (
            f"{filter_name}: lone surrogate U+{ord(surrogate.group()):04X} "
            "cannot be written as UTF-8"
        )
        raise ValueError(msg)
    return text


# --- TOML -------------------------------------------------------------------
# Basic strings may hold anything but `"`, `\` and control characters (tab aside,
# escaped anyway for readability); \uXXXX covers every control character.
_TOML_ESCAPES: dict[int, str] = {ord('"'): '\\"', ord("\\"): "\\\\"}
_TOML_ESCAPES.update(
    {code: f"\\u{code:04X}" for code in [*range(0x20), *range(0x7F, 0xA0)]}
)


def toml_str(value: object) -> str:
    """Return a TOML basic string, double quotes included."""
    return '"' + _as_text(value, "toml_str").translate(_TOML_ESCAPES) + '"'


# --- YAML -------------------------------------------------------------------
# Double-quoted scalars: escape `"` and `\`, every line break (raw ones would be
# folded into spaces) and every character outside YAML's printable set.
_YAML_NAMED = {
    "\\": "\\\\",
    '"': '\\"',
    "\x00": "\\0",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
_YAML_NEEDS_ESCAPE = re.compile(
    '[\\\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]'
)


def _yaml_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _YAML_NAMED:
        return _YAML_NAMED[char]
    code = ord(char)
    return f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"


def yaml_str(value: object) -> str:
    """Return a YAML double-quoted scalar, quotes included."""
    text = _as_text(value, "yaml_str")
    return '"' + _YAML_NEEDS_ESCAPE.sub(_yaml_escape, text) + '"'


# --- Markdown ---------------------------------------------------------------
# Characters that start Markdown or HTML syntax anywhere in a line. Backslash
# escapes of ASCII punctuation are valid CommonMark/GFM and render as the
# character itself; `(`, `)`, `!`, `'`, `"`, `:` stay readable because without
# an unescaped `[` or `<` they cannot start a link, image or tag.
_MD_INLINE_SPECIAL = "\\`*_{}[]<>#|~^$&"
_MD_ESCAPES = {ord(char): "\\" + char for char in _MD_INLINE_SPECIAL}
# Whitespace runs, line breaks and control characters all fold to one space.
_MD_FOLD = re.compile(f"[ {re.escape(_LINE_BREAKS)}\x00-\x1f\x7f-\x9f]+")
# At the start of a line these open a list, a setext heading or an ordered list.
_MD_LINE_START = "-+="
_MD_ORDERED_LIST = re.compile(r"(\d{1,9})([.)])")


def md_text(value: object) -> str:
    """Return inline Markdown that renders as the text, on one line."""
    text = _MD_FOLD.sub(" ", _as_text(value, "md_text")).strip(" ")
    text = text.translate(_MD_ESCAPES)
    if text[:1] in _MD_LINE_START and text:
        return "\\" + text
    ordered = _MD_ORDERED_LIST.match(text)
    if ordered:
        return ordered.group(1) + "\\" + text[ordered.end(1) :]
    return text


# --- Dockerfile ---------------------------------------------------------------
# Inside double quotes BuildKit's lexer treats `\` before `"`, `$` or `\` as an
# escape and expands `$VAR`; a raw newline would end the instruction.
_DOCKER_ESCAPES: dict[int, str] = {ord(c): "\\" + c for c in '\\"$'}
_DOCKER_FOLD = re.compile(
    f"\r\n|[{re.escape(_LINE_BREAKS)}\x00-\x08\x0e-\x1f\x7f-\x9f]"
)


def docker_str(value: object) -> str:
    """Return a double-quoted Dockerfile string (for LABEL values), on one line."""
    text = _DOCKER_FOLD.sub(" ", _as_text(value, "docker_str"))
    return '"' + text.translate(_DOCKER_ESCAPES) + '"'


class FormatEscapes(Extension):
    """Register ``toml_str``, ``yaml_str``, ``md_text`` and ``docker_str``."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(
            toml_str=toml_str,
            yaml_str=yaml_str,
            md_text=md_text,
            docker_str=docker_str,
        )


# --- The template's own folder ----------------------------------------------------
# What marks the folder cookiecutter generates from.
TEMPLATE_MARKER = "cookiecutter.json"


def template_folder() -> str:
    """Return the absolute path of the template folder, for the hooks.

    Cookiecutter renders a hook script from inside the template folder (it looks
    for ``hooks/`` there), so the working directory is that folder, absolute even
    when the person gave a relative path or a URL. ``_repo_dir`` is not used: it
    stays relative to where cookiecutter was started, which the hook cannot see.
    """
    folder = Path.cwd()
    if not (folder / TEMPLATE_MARKER).is_file():
        msg = (
            f"template_folder(): {folder} holds no {TEMPLATE_MARKER}; call it only "
            "while cookiecutter renders a hook"
        )
        raise RuntimeError(msg)
    return str(folder)


# What files copied without rendering (the skeleton's code and tests, every overlay
# file) may say of the answers, written as Jinja would render it, and its value. The
# hook replaces each in one plain pass, so those files need no Jinja, and no
# escaping of Jinja's own delimiters; a test checks that Jinja renders them alike.
FILLED_FIELDS: dict[str, Callable[[Mapping[str, object]], str]] = {
    "{{ cookiecutter.package_name }}": lambda answers: str(answers["package_name"]),
    "{{cookiecutter.package_name}}": lambda answers: str(answers["package_name"]),
    "{{ cookiecutter.project_slug }}": lambda answers: str(answers["project_slug"]),
    "{{ cookiecutter.github_username }}": lambda answers: str(
        answers["github_username"]
    ),
    "{{ cookiecutter.python_version }}": lambda answers: str(answers["python_version"]),
    "{{ cookiecutter.author_name }}": lambda answers: str(answers["author_name"]),
    # The year, as cookiecutter's `now` tag writes it (license texts).
    "{% now 'utc', '%Y' %}": lambda _answers: datetime.now(UTC).strftime("%Y"),
    "{{ cookiecutter.project_name | md_text }}": lambda answers: md_text(
        answers["project_name"]
    ),
    "{{ cookiecutter.description | md_text }}": lambda answers: md_text(
        answers["description"]
    ),
    "{{ cookiecutter.author_name | md_text }}": lambda answers: md_text(
        answers["author_name"]
    ),
}


def filled_fields(answers: Mapping[str, object]) -> dict[str, str]:
    """Each field of `FILLED_FIELDS` with its value for these answers."""
    return {field: value(answers) for field, value in FILLED_FIELDS.items()}


def post_generation_input(answers: Mapping[str, object]) -> dict[str, object]:
    """What the post-generation hook reads: the answers, the template folder and
    the value of every filled field."""
    return {
        "answers": dict(answers),
        "template": template_folder(),
        "fields": filled_fields(answers),
    }


class HookInput(Extension):
    """Register the ``post_generation_input`` filter."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["post_generation_input"] = post_generation_input


# --- The answers ------------------------------------------------------------------
CHECKED = "yes"


class AnswersRefused(FailedHookException):  # type: ignore[misc]  # untyped package
    """Answers that would generate a broken project; ``problems`` says why, one line
    each. A hook failure to cookiecutter, whose command line prints the message and
    exits 1 without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} answer{'s' if len(problems) > 1 else ''}"
        super().__init__(
            f"generation stopped: {count} refused (the error lines above say which "
            "and what to try); nothing was written"
        )


def checked_answers(answers: Mapping[str, object]) -> str:
    """Return ``"yes"`` when every answer fits; otherwise print one ``error:`` line
    per problem to stderr and raise ``AnswersRefused``."""
    problems = validate(dict(answers))
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        raise AnswersRefused(problems)
    return CHECKED


class AnswerChecks(Extension):
    """Register the ``checked_answers`` filter."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["checked_answers"] = checked_answers

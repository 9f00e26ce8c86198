"""The configuration reference, written from the settings model itself.

`make docs` rewrites the README's configuration table (between the
`<!-- results:configuration -->` markers) and `.env.example` from each setting's
name, default, limits and description, so the documentation cannot drift from
the code; the project's tests fail when it has.
"""

import textwrap
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from .files import write_text
from .readme import update_sections

SECTION = "configuration"
_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
_UNIONS = (Union, types.UnionType)


def variable(name: str) -> str:
    """The environment variable of a setting: its name in capitals, no prefix."""
    return name.upper()


def default_text(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _bounds(metadata: list[Any]) -> list[str]:
    return [
        f"{symbol} {getattr(item, attribute)}"
        for item in metadata
        for attribute, symbol in _BOUNDS
        if getattr(item, attribute, None) is not None
    ]


def limits(field: FieldInfo) -> str:
    """The bounds and choices the settings model enforces, as a reader writes them.

    A union (`Annotated[int, Field(ge=1)] | Literal["auto"]`) shows the bounds of
    its annotated member and the choices of its literal one.
    """
    parts = _bounds(field.metadata)
    members = get_args(field.annotation) if get_origin(field.annotation) in _UNIONS else ()
    for member in (field.annotation, *members):
        if get_origin(member) is Annotated:
            for extra in member.__metadata__:
                parts += _bounds(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        elif get_origin(member) is Literal:
            parts.append("one of " + ", ".join(f"`{choice}`" for choice in get_args(member)))
    return "; ".join(parts)


def table(model: type[BaseModel]) -> str:
    """One row per setting, in the order the model declares them."""
    lines = ["| Variable | Default | Limits | What it does |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        lines.append(
            f"| `{variable(name)}` | `{default_text(field)}` | {limits(field)} | {description} |"
        )
    return "\n".join(lines)


ENV_HEADER = """\
# Copy to .env and edit: every variable is optional and the values below are the
# defaults. Real environment variables take precedence over .env.
# Written by `make docs` from the settings model; edit the descriptions there.
"""


def _groups(model: type[BaseModel]) -> list[tuple[str, list[str]]]:
    """Settings by the class that declares them, the shared ones first."""
    groups: list[tuple[str, list[str]]] = []
    for cls in reversed(model.__mro__):
        own = [name for name in vars(cls).get("__annotations__", {}) if name in model.model_fields]
        if own:
            title = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
            groups.append((title, own))
    return groups


def env_example(model: type[BaseModel]) -> str:
    """`.env.example`: every setting with its description, limits and default.

    A setting with no default (or a secret) is left commented out, so copying the
    file to `.env` changes nothing until a line is edited.
    """
    blocks = [ENV_HEADER]
    for title, names in _groups(model):
        lines = [f"# --- {title}"]
        for name in names:
            field = model.model_fields[name]
            about = field.description or ""
            bounds = limits(field).replace("`", "")
            if bounds:
                about = f"{about} ({bounds})" if about else bounds
            wrapped = textwrap.wrap(about, width=86, initial_indent="# ", subsequent_indent="# ")
            lines += ["", *wrapped]
            value = default_text(field)
            unset = value == "unset"
            lines.append(f"# {variable(name)}=" if unset else f"{variable(name)}={value}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def write_docs(
    settings: type[BaseModel],
    readme: Path = Path("README.md"),
    example: Path = Path(".env.example"),
) -> None:
    """`make docs`: rewrite the README's configuration table and `.env.example`."""
    update_sections(readme, {SECTION: table(settings)})
    write_text(example, env_example(settings))
    print(f"updated the configuration table in {readme} and {example}")

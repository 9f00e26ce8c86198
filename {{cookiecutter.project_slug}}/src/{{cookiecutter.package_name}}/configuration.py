"""The configuration reference, written from the settings model itself.

`make docs` rewrites the README's configuration table (between the
`<!-- results:configuration -->` markers) from each setting's name, default,
limits and description, so the documentation cannot drift from the code; the
project's tests fail when it has.
"""

from pathlib import Path
from typing import Literal, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from .readme import update_sections

SECTION = "configuration"
_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


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


def limits(field: FieldInfo) -> str:
    """The bounds and choices the settings model enforces, as a reader writes them."""
    parts = [
        f"{symbol} {getattr(item, attribute)}"
        for item in field.metadata
        for attribute, symbol in _BOUNDS
        if getattr(item, attribute, None) is not None
    ]
    if get_origin(field.annotation) is Literal:
        parts.append("one of " + ", ".join(f"`{choice}`" for choice in get_args(field.annotation)))
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


def main(readme: Path = Path("README.md")) -> None:
    """`make docs`: rewrite the README's configuration table from the settings."""
    from .settings import Settings

    update_sections(readme, {SECTION: table(Settings)})
    print(f"updated the configuration table in {readme}")


if __name__ == "__main__":
    main()

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.platform.configuration import (
    SECTION,
    env_example,
    table,
)
from {{ cookiecutter.package_name }}.platform.readme import replace_section
from {{ cookiecutter.package_name }}.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]


class Shared(BaseSettings):
    """Settings every part reads."""

    batch_rows: int = Field(default=32, ge=1, le=512, description="Rows per batch.")


class Renamed(Shared):
    """Scoring settings."""

    mode: Literal["fast", "exact"] = Field(default="exact", description="How to score.")
    api_key: SecretStr | None = Field(default=None, description="Key for the scorer.")
    rate: Annotated[float, Field(gt=0, le=1)] | Literal["auto"] = Field(
        default="auto", description="Step size."
    )


def test_a_renamed_or_new_setting_changes_the_table() -> None:
    assert table(Renamed).splitlines()[2:] == [
        "| `BATCH_ROWS` | `32` | ≥ 1; ≤ 512 | Rows per batch. |",
        "| `MODE` | `exact` | one of `fast`, `exact` | How to score. |",
        "| `API_KEY` | `unset` |  | Key for the scorer. |",
        "| `RATE` | `auto` | > 0; ≤ 1; one of `auto` | Step size. |",
    ]


def test_the_env_example_groups_settings_by_declaring_class_and_comments_out_unset_ones() -> None:
    text = env_example(Renamed)

    shared, scoring = text.split("# --- ")[1:]
    assert shared.startswith("Settings every part reads.")
    assert "# Rows per batch. (≥ 1; ≤ 512)\nBATCH_ROWS=32\n" in shared
    assert "# How to score. (one of fast, exact)\nMODE=exact\n" in scoring
    # Copying the example to .env must change nothing: no empty secret is set.
    assert "\n# API_KEY=\n" in scoring
    assert "\nAPI_KEY=" not in text


def test_make_docs_writes_the_table_between_the_markers_and_the_env_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    readme = tmp_path / "README.md"
    example = tmp_path / ".env.example"
    readme.write_text(
        "Intro.\n<!-- results:configuration -->\nstale table\n"
        "<!-- /results:configuration -->\nEnd.\n"
    )

    result = CliRunner().invoke(app, ["docs"])

    assert result.exit_code == 0, result.output

    text = readme.read_text()
    assert text.startswith("Intro.\n<!-- results:configuration -->\n| Variable | Default |")
    assert "| `MLFLOW_TRACKING_URI` | `sqlite:///mlflow.db` |" in text
    assert "stale table" not in text
    assert text.endswith("<!-- /results:configuration -->\nEnd.\n")
    assert "\nMLFLOW_TRACKING_URI=sqlite:///mlflow.db\n" in example.read_text()


def test_the_env_example_is_the_one_the_settings_write() -> None:
    shipped = (PROJECT / ".env.example").read_text(encoding="utf-8")

    assert shipped == env_example(Settings), ".env.example is stale: run `make docs`"


def test_every_line_of_the_env_example_is_a_setting_the_project_reads() -> None:
    example = PROJECT / ".env.example"
    named = [
        line.lstrip("# ").split("=", 1)[0]
        for line in example.read_text(encoding="utf-8").splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()
    ]

    assert sorted(named) == sorted(name.upper() for name in Settings.model_fields)


def test_the_readme_configuration_table_is_the_one_the_settings_write() -> None:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")

    regenerated = replace_section(readme, SECTION, table(Settings))

    assert regenerated == readme, "the README's configuration table is stale: run `make docs`"


def test_every_setting_says_what_it_does() -> None:
    silent = [name for name, field in Settings.model_fields.items() if not field.description]

    assert silent == []

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from {{ cookiecutter.package_name }}.configuration import main, table


def test_a_renamed_or_new_setting_changes_the_table() -> None:
    class Renamed(BaseSettings):
        batch_rows: int = Field(default=32, ge=1, le=512, description="Rows per batch.")
        mode: Literal["fast", "exact"] = Field(default="exact", description="How to score.")

    assert table(Renamed).splitlines()[2:] == [
        "| `BATCH_ROWS` | `32` | ≥ 1; ≤ 512 | Rows per batch. |",
        "| `MODE` | `exact` | one of `fast`, `exact` | How to score. |",
    ]


def test_make_docs_writes_the_table_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "Intro.\n<!-- results:configuration -->\nstale table\n"
        "<!-- /results:configuration -->\nEnd.\n"
    )

    main(readme)

    text = readme.read_text()
    assert text.startswith("Intro.\n<!-- results:configuration -->\n| Variable | Default |")
    assert "| `MLFLOW_TRACKING_URI` | `sqlite:///mlflow.db` |" in text
    assert "stale table" not in text
    assert text.endswith("<!-- /results:configuration -->\nEnd.\n")

from pathlib import Path

from {{ cookiecutter.package_name }}.configuration import SECTION, table
from {{ cookiecutter.package_name }}.readme import replace_section
from {{ cookiecutter.package_name }}.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]


def test_the_readme_configuration_table_is_the_one_the_settings_write() -> None:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")

    regenerated = replace_section(readme, SECTION, table(Settings))

    assert regenerated == readme, "the README's configuration table is stale: run `make docs`"


def test_every_setting_says_what_it_does() -> None:
    silent = [name for name, field in Settings.model_fields.items() if not field.description]

    assert silent == []

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.settings import get_settings


def test_hello_says_the_configured_greeting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREETING", "bonjour")
    get_settings.cache_clear()

    result = CliRunner().invoke(app, ["hello"])

    assert result.output == "bonjour\n"

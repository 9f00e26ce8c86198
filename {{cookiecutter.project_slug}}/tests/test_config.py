import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.platform.config import ProjectSettings


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("API_WORKERS", "4")

    settings = ProjectSettings()

    assert settings.mlflow_tracking_uri == "http://mlflow.internal:5000"
    assert settings.api_workers == 4


def test_api_binds_to_loopback_unless_asked() -> None:
    assert ProjectSettings().api_host == "127.0.0.1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("API_PORT", "70000"), ("API_WORKERS", "0"), ("LOG_LEVEL", "LOUD"), ("API_PORT", "http")],
)
def test_invalid_setting_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match=variable.lower()):
        ProjectSettings()

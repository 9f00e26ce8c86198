"""The Kubernetes manifests configure the app through its own settings: every
variable they set is a setting, parses, and the port they expose is the one it
serves on."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.settings import Settings

DEPLOYMENT = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes" / "deployment.yaml"


@pytest.fixture
def container() -> dict[str, Any]:
    deployment = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    (api,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(api, dict)
    return api


def test_every_variable_the_deployment_sets_is_a_setting(container: dict[str, Any]) -> None:
    names = {variable["name"] for variable in container["env"]}
    settings = {name.upper() for name in Settings.model_fields}

    assert names <= settings, f"not settings: {sorted(names - settings)}"


def test_the_deployment_serves_on_the_port_it_exposes(
    container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in container["env"]:
        monkeypatch.setenv(variable["name"], variable["value"])

    settings = Settings()

    assert settings.api_port == container["ports"][0]["containerPort"]
    assert settings.api_host == "0.0.0.0"  # noqa: S104 - inside the pod, behind a Service

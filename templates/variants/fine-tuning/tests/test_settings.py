"""Fine-tuning settings from the environment: forms a person types, and refusals that
name the setting."""

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.settings import ALL_LINEAR, Settings


def test_target_modules_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORA_TARGET_MODULES", "q_proj, v_proj")

    assert Settings().lora_target_modules == ["q_proj", "v_proj"]


def test_target_modules_still_accept_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORA_TARGET_MODULES", '["q_proj", "o_proj"]')

    assert Settings().lora_target_modules == ["q_proj", "o_proj"]


def test_target_modules_default_to_every_linear_layer() -> None:
    assert Settings().lora_target_modules == ALL_LINEAR


@pytest.mark.parametrize("value", ["[q_proj", "q proj", ",", "q_proj;v_proj"])
def test_unusable_target_modules_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LORA_TARGET_MODULES", value)

    with pytest.raises(ValidationError, match="lora_target_modules"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [("BATCH_SIZE", "0"), ("BATCH_SIZE", "big"), ("LEARNING_RATE", "fast"), ("TOKEN_BUDGET", "8")],
)
def test_recipe_settings_take_auto_or_a_valid_number(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


def test_recipe_settings_read_numbers_and_booleans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_SIZE", "32")
    monkeypatch.setenv("LEARNING_RATE", "1e-4")
    monkeypatch.setenv("GRADIENT_CHECKPOINTING", "false")

    settings = Settings()

    assert (settings.batch_size, settings.learning_rate) == (32, 1e-4)
    assert settings.gradient_checkpointing is False

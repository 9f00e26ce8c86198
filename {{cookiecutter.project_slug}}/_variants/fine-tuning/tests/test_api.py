from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.api import (
    LoadedModel,
    ModelSlot,
    create_app,
    load_adapter_model,
)
from {{ cookiecutter.package_name }}.dataset import load_jsonl
from {{ cookiecutter.package_name }}.evaluation import normalize
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.sft import generate

from variant_fixtures import Trained, fake_loader

pytestmark = pytest.mark.anyio


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app):
        slot: ModelSlot = app.state.model_slot
        assert slot.loading is not None
        await slot.loading
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def client(tiny_pair: tuple[Any, Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(max_new_tokens_cap=16), loader=lambda _dir: fake_loader(tiny_pair))
    async for c in _client(app):
        yield c


async def test_generate_answers_with_the_adapter_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/generate", json={"prompt": "my bill is wrong"})

    assert response.status_code == 200
    body = response.json()
    assert body["adapter"] is True
    assert body["model_version"] == "tiny+lora"
    assert isinstance(body["text"], str)


async def test_base_model_answers_when_the_adapter_is_switched_off(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/generate", json={"prompt": "hi", "use_adapter": False, "task_instruction": False}
    )

    assert response.status_code == 200
    assert response.json()["adapter"] is False


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": "hi", "max_new_tokens": 0}, "max_new_tokens"),
        ({"prompt": "hi", "max_new_tokens": 17}, "at most 16"),
        ({"prompt": "x" * 2001}, "at most 2000 characters"),
        ({"prompt": "hi", "temperature": 2}, "temperature"),
    ],
)
async def test_bad_input_is_422_naming_the_problem(
    client: httpx.AsyncClient, payload: dict[str, object], needle: str
) -> None:
    response = await client.post("/generate", json=payload)

    assert response.status_code == 422
    assert needle in response.text


async def test_metrics_count_generated_tokens_and_labels(client: httpx.AsyncClient) -> None:
    await client.post("/generate", json={"prompt": "cancel please"})

    body = (await client.get("/metrics")).text

    assert 'generated_tokens_total{adapter="true"}' in body
    assert "generated_labels_total" in body
    assert "generation_duration_seconds_count 1.0" in body


async def test_ready_is_503_with_the_reason_when_no_adapter_was_trained(
    tmp_path: Path,
) -> None:
    app = create_app(Settings(adapter_dir=tmp_path / "missing"))
    async for client in _client(app):
        ready = await client.get("/ready")
        generated = await client.post("/generate", json={"prompt": "hi"})

        assert ready.status_code == 503
        assert "make train" in ready.json()["reason"]
        assert generated.status_code == 503
        assert (await client.get("/health")).status_code == 200


@pytest.mark.slow
def test_served_adapter_answers_like_the_trained_one(trained: Trained) -> None:
    loaded: LoadedModel = load_adapter_model(trained.settings.adapter_dir)
    test = load_jsonl(trained.settings.split_path("test"))[:30]

    answers = generate(loaded.model, loaded.tokenizer, [ex.prompt for ex in test], max_new_tokens=4)

    accuracy = sum(normalize(a) == ex.completion for a, ex in zip(answers, test, strict=True)) / 30
    assert loaded.version == "tiny+lora"
    assert accuracy >= trained.result.tuned_metrics["accuracy"].value - 0.2

import asyncio
import threading
from typing import Annotated

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from {{ cookiecutter.package_name }}.platform.config import ProjectSettings
from {{ cookiecutter.package_name }}.platform.contract import JsonInt
from {{ cookiecutter.package_name }}.platform.host import ModelHost, with_limits
from {{ cookiecutter.package_name }}.platform.service import api_app, instrument

pytestmark = pytest.mark.anyio


class NothingToServeError(Exception):
    """What a loader raises when there is nothing to serve."""


def hosted(host: ModelHost[str]) -> FastAPI:
    app = api_app("test", "0", host.lifespan("INFO"))
    instrument(app, host.state, ProjectSettings())

    @app.get("/echo")
    async def echo(model: Annotated[str, Depends(host.require)]) -> dict[str, str]:
        return {"model": model}

    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_endpoints_answer_503_with_the_reason_until_the_model_loads() -> None:
    release = threading.Event()

    def slow_load() -> str:
        release.wait(10)
        return "weights"

    host = ModelHost(slow_load, lambda model: f"v-{model}", unavailable=(NothingToServeError,))
    app = hosted(host)
    async with LifespanManager(app):
        waiting = await get(app, "/echo")
        not_ready = await get(app, "/ready")
        alive = await get(app, "/health")
        release.set()
        assert host.loading is not None
        await host.loading
        served = await get(app, "/echo")
        ready = await get(app, "/ready")

    assert (waiting.status_code, waiting.json()["detail"]) == (503, "model is loading")
    assert not_ready.status_code == 503
    assert alive.status_code == 200
    assert served.json() == {"model": "weights"}
    assert ready.status_code == 200
    assert host.state.model_version == "v-weights"


async def test_a_model_that_cannot_load_leaves_its_public_reason_on_ready() -> None:
    def missing() -> str:
        raise NothingToServeError("/home/someone/models is empty")

    host = ModelHost(
        missing,
        str,
        unavailable=(NothingToServeError,),
        reason=lambda _: "no model: run `make train`",
    )
    app = hosted(host)
    async with LifespanManager(app):
        assert host.loading is not None
        await host.loading
        ready = await get(app, "/ready")
        echo = await get(app, "/echo")

    assert ready.status_code == 503
    assert "no model: run `make train`" in ready.text
    assert "/home/someone" not in ready.text + echo.text
    assert echo.status_code == 503


async def test_an_unexpected_load_error_is_raised_not_reported_as_unavailable() -> None:
    def broken() -> str:
        raise KeyError("bug")

    host = ModelHost(broken, str, unavailable=(NothingToServeError,))

    with pytest.raises(KeyError):
        await host.load()
    assert host.state.ready is False


async def test_shutdown_stops_a_load_in_progress_and_runs_the_closing_hook() -> None:
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    release = threading.Event()

    def slow_load() -> str:
        release.wait(10)
        return "weights"

    host = ModelHost(slow_load, str, unavailable=(NothingToServeError,))
    lifespan = host.lifespan("INFO", on_shutdown=close)
    async with lifespan(FastAPI()):
        await asyncio.sleep(0.05)
    loading = host.loading
    assert loading is not None
    with pytest.raises(asyncio.CancelledError):
        await loading
    release.set()

    assert closed == [True]
    assert host.model is None
    assert host.state.ready is False


class Question(BaseModel):
    text: str = Field(min_length=1, description="What to ask.")
    depth: int = Field(default=5, ge=1)


def test_limits_from_settings_are_validated_and_published() -> None:
    limited = with_limits(Question, text={"max_length": 8}, depth={"le": 20})

    schema = limited.model_json_schema()["properties"]
    assert limited.__name__ == "Question"
    assert (schema["text"]["minLength"], schema["text"]["maxLength"]) == (1, 8)
    assert schema["text"]["description"] == "What to ask."
    assert (schema["depth"]["minimum"], schema["depth"]["maximum"]) == (1, 20)
    assert limited(text="short").depth == 5
    with pytest.raises(ValueError, match="at most 8 characters"):
        limited(text="far too long")
    with pytest.raises(ValueError, match="less than or equal to 20"):
        limited(text="ok", depth=21)
    assert Question(text="far too long").text == "far too long"


def test_a_limit_on_a_field_the_schema_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="Question has no field txt"):
        with_limits(Question, txt={"max_length": 8})


class Generation(BaseModel):
    tokens: JsonInt = Field(default=8, ge=1)


def test_a_limit_on_a_field_with_its_own_validator_is_published_and_enforced() -> None:
    limited = with_limits(Generation, tokens={"le": 64})

    schema = limited.model_json_schema()["properties"]["tokens"]
    assert (schema["minimum"], schema["maximum"]) == (1, 64)
    with pytest.raises(ValueError, match="less than or equal to 64"):
        limited(tokens=65)
    with pytest.raises(ValueError, match="must be a JSON number"):
        limited(tokens="12")
    assert limited(tokens=64.0).tokens == 64

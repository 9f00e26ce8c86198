from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.config import ProjectSettings
from {{ cookiecutter.package_name }}.service import (
    REQUEST_ID_HEADER,
    ServiceState,
    instrument,
    serve,
)

pytestmark = pytest.mark.anyio


class Payload(BaseModel):
    n: int


def _app(metrics: bool = True, max_body_bytes: int = 1000) -> tuple[FastAPI, ServiceState]:
    app = FastAPI()
    state = ServiceState()
    settings = ProjectSettings(metrics_enabled=metrics, max_body_bytes=max_body_bytes)
    instrument(app, state, settings)

    @app.post("/echo")
    async def echo(payload: Payload) -> dict[str, int]:
        return {"n": payload.n}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    return app, state


@pytest.fixture
async def served() -> AsyncIterator[tuple[httpx.AsyncClient, ServiceState]]:
    app, state = _app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, state


async def test_ready_is_503_until_marked_ready(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, state = served
    not_ready = await client.get("/ready")
    state.mark_ready("7")
    ready = await client.get("/ready")

    assert not_ready.status_code == 503
    assert not_ready.json()["reason"] == "model is loading"
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model_version": "7"}


async def test_failure_reason_is_reported_by_ready(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, state = served
    state.mark_failed("no model at models:/x@champion")

    response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json()["reason"] == "no model at models:/x@champion"


async def test_health_answers_while_not_ready(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    assert (await client.get("/health")).json() == {"status": "ok"}


async def test_request_id_is_echoed_when_plain(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    response = await client.get("/health", headers={REQUEST_ID_HEADER: "abc-123"})
    assert response.headers[REQUEST_ID_HEADER] == "abc-123"


@pytest.mark.parametrize("supplied", ["", "x" * 65, "evil\u2028line", "a b"])
async def test_request_id_is_replaced_when_unsafe(
    served: tuple[httpx.AsyncClient, ServiceState], supplied: str
) -> None:
    client, _ = served
    headers = [(REQUEST_ID_HEADER.encode(), supplied.encode())]
    response = await client.get("/health", headers=headers)

    generated = response.headers[REQUEST_ID_HEADER]
    assert generated != supplied
    assert len(generated) == 32


async def test_metrics_count_requests_by_route_template(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    for item in (1, 2, 3):
        await client.get(f"/items/{item}")
    await client.get("/nowhere")

    body = (await client.get("/metrics")).text

    assert 'http_requests_total{method="GET",route="/items/{item_id}",status="200"} 3.0' in body
    assert 'route="unmatched",status="404"' in body
    assert "http_request_duration_seconds_bucket" in body


async def test_metrics_off_drops_the_endpoint_and_the_counters_but_keeps_request_ids() -> None:
    app, state = _app(metrics=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        item = await client.get("/items/1", headers={REQUEST_ID_HEADER: "trace-2"})
        scraped = await client.get("/metrics")

    assert item.headers[REQUEST_ID_HEADER] == "trace-2"
    assert scraped.status_code == 404
    counted = state.metrics.registry.get_sample_value(
        "http_requests_total", {"method": "GET", "route": "/items/{item_id}", "status": "200"}
    )
    assert counted is None


async def test_body_over_the_declared_limit_is_413_naming_the_setting(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, state = served
    response = await client.post("/echo", content=b'{"n": 1, "pad": "' + b"x" * 2000 + b'"}')

    assert response.status_code == 413
    assert "MAX_BODY_BYTES=1,000" in response.json()["detail"]
    counted = state.metrics.registry.get_sample_value(
        "http_requests_total", {"method": "POST", "route": "unmatched", "status": "413"}
    )
    assert counted == 1.0


async def test_streamed_body_is_cut_off_at_the_limit_with_413(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"n": 1, "pad": "'
        for _ in range(50):
            yield b"x" * 100
        yield b'"}'

    streamed = await client.post("/echo", content=chunks())
    small = await client.post("/echo", json={"n": 7})

    assert streamed.status_code == 413
    assert "MAX_BODY_BYTES" in streamed.json()["detail"]
    assert small.json() == {"n": 7}


async def test_422_echoing_a_lone_surrogate_is_still_a_422(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    response = await client.post(
        "/echo", content=b'{"n": "\\ud800"}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "n"]


async def test_unhandled_error_is_500_with_request_id(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    response = await client.get("/boom", headers={REQUEST_ID_HEADER: "trace-1"})

    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "trace-1"}


async def test_scrape_hooks_run_before_metrics_render(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, state = served
    calls: list[str] = []
    state.before_scrape.append(lambda: calls.append("refreshed"))

    await client.get("/metrics")

    assert calls == ["refreshed"]


def test_serve_runs_the_factory_with_settings_for_what_is_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr("uvicorn.run", lambda target, **kwargs: calls.append((target, kwargs)))
    monkeypatch.setenv("API_WORKERS", "3")

    serve("pkg.api:create_app", ProjectSettings(), port=9001)

    target, options = calls[0]
    assert target == "pkg.api:create_app"
    assert options["factory"] is True
    assert (options["host"], options["port"], options["workers"]) == ("127.0.0.1", 9001, 3)
    assert options["timeout_worker_healthcheck"] == 60

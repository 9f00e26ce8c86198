import asyncio
import contextlib
import json
import re
import select
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.platform import service
from {{ cookiecutter.package_name }}.platform.config import ProjectSettings
from {{ cookiecutter.package_name }}.platform.service import (
    DOCS_ASSETS,
    INLINE_BODY_BYTES,
    MAX_ERRORS_SHOWN,
    REQUEST_ID_HEADER,
    IdleTimeoutHttpToolsProtocol,
    ObservabilityMiddleware,
    OffLoopRoute,
    ServiceState,
    api_app,
    instrument,
    serve,
)

pytestmark = pytest.mark.anyio


class Payload(BaseModel):
    n: int


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


class Strict(BaseModel):
    model_config = {"extra": "forbid"}

    a: int
    b: int


def _app(
    metrics: bool = True,
    max_body_bytes: int = 1000,
    max_concurrent_requests: int = 64,
    client_timeout_seconds: float = 10.0,
) -> tuple[FastAPI, ServiceState]:
    app = api_app("test", "0", _no_lifespan)
    state = ServiceState()
    settings = ProjectSettings(
        metrics_enabled=metrics,
        max_body_bytes=max_body_bytes,
        max_concurrent_requests=max_concurrent_requests,
        client_timeout_seconds=client_timeout_seconds,
    )
    instrument(app, state, settings)
    app.state.release = asyncio.Event()
    app.state.entered = 0

    @app.post("/echo")
    async def echo(payload: Payload) -> dict[str, int]:
        return {"n": payload.n}

    @app.post("/strict")
    async def strict(payload: list[Strict]) -> int:
        return len(payload)

    @app.get("/slow")
    async def slow() -> str:
        app.state.entered += 1
        await app.state.release.wait()
        return "done"

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    app.state.bulk_threads = []
    offloop = APIRouter(route_class=OffLoopRoute)

    @offloop.post("/bulk")
    async def bulk(payload: list[Payload]) -> dict[str, int]:
        app.state.bulk_threads.append(threading.get_ident())
        return {"rows": len(payload)}

    app.include_router(offloop)
    return app, state


def _guard(app: FastAPI) -> ObservabilityMiddleware:
    """The app's guarding middleware (built with the stack on the first request)."""
    layer = app.middleware_stack
    while not isinstance(layer, ObservabilityMiddleware):
        layer = getattr(layer, "app")  # noqa: B009 - ASGI layers are untyped here
    return layer


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
    assert options["limit_concurrency"] == ProjectSettings().max_connections
    assert options["http"] is IdleTimeoutHttpToolsProtocol


async def test_a_422_lists_the_first_errors_and_counts_the_rest(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    many: list[dict[str, int]] = [{}] * 100  # 200 missing fields
    response = await client.post("/strict", json=many)

    body = response.json()
    assert response.status_code == 422
    assert len(body["detail"]) == MAX_ERRORS_SHOWN
    assert body["errors_total"] == 200
    assert body["errors_omitted"] == 200 - MAX_ERRORS_SHOWN


async def test_a_422_never_echoes_a_large_input_whole(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    body = {f"unknown_{i}": "x" * 10 for i in range(24)}  # 600 bytes, under the limit

    response = await client.post("/strict", json=[body])

    assert response.status_code == 422
    assert len(response.content) < 6_000
    missing = next(e for e in response.json()["detail"] if e["type"] == "missing")
    assert missing["input"].startswith(json.dumps(body)[:100])
    assert missing["input"].endswith("(24 items in all)")


async def test_over_the_concurrency_limit_a_request_gets_503_with_retry_after_at_once() -> None:
    app, _ = _app(max_concurrent_requests=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        while app.state.entered < 2:
            await asyncio.sleep(0)  # yield until both are inside the app
        refused = await client.post("/echo", json={"n": 1})
        ready = await client.get("/ready")
        app.state.release.set()
        answered = [await t for t in held]
        after = await client.post("/echo", json={"n": 2})

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["Connection"] == "close"
    assert "MAX_CONCURRENT_REQUESTS=2" in refused.json()["detail"]
    assert ready.status_code == 503  # not ready, but answered: probes are never refused
    assert "reason" in ready.json()
    assert [r.text for r in answered] == ['"done"', '"done"']
    assert after.json() == {"n": 2}


async def test_a_stalled_body_gets_408_naming_the_setting() -> None:
    app, _ = _app(client_timeout_seconds=0.05)
    transport = httpx.ASGITransport(app=app)
    stall = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"n": '
        await stall.wait()  # never set: the client goes silent mid-body
        yield b"1}"

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/echo", content=chunks())

    assert response.status_code == 408
    assert "CLIENT_TIMEOUT_SECONDS" in response.json()["detail"]


async def test_the_schema_documents_the_guards_answers_and_metrics_as_text(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert {"400", "408", "413", "422", "503"} <= set(paths["/echo"]["post"]["responses"])
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert metrics
    assert all(kind.startswith("text/plain") for kind in metrics)


@pytest.fixture
def idle_server() -> Iterator[int]:
    app, _ = _app()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=IdleTimeoutHttpToolsProtocol,
        timeout_keep_alive=1,
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def test_a_connection_that_never_sends_a_request_is_closed(idle_server: int) -> None:
    with socket.create_connection(("127.0.0.1", idle_server), timeout=10) as idle:
        closed = idle.recv(1) == b""  # blocks until the server closes it (or 10 s)

    assert closed


def test_a_request_whose_headers_drip_in_is_answered_408_and_closed(idle_server: int) -> None:
    with socket.create_connection(("127.0.0.1", idle_server), timeout=10) as slow:
        answer = b""
        # One header byte every 0.3 s: never idle for the 1 s timeout, never complete.
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                break
            readable, _, _ = select.select([slow], [], [], 0.3)
            if readable:
                break
        with contextlib.suppress(OSError):
            answer = slow.recv(1024)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b"request headers took longer than CLIENT_TIMEOUT_SECONDS")


def _read_response(client: socket.socket) -> bytes:
    """One whole HTTP/1.1 response: a busy server may send headers and body apart."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)):
        chunk = client.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_keep_alive_connection_serves_requests_sent_within_the_timeout(idle_server: int) -> None:
    with socket.create_connection(("127.0.0.1", idle_server), timeout=10) as client:
        answers = []
        for _ in range(6):
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answers.append(_read_response(client))
            # Idle a quarter of the 1 s timeout (room for a busy machine), 1.5 s in all:
            # the timeout counts from the last answer, not from the connection.
            threading.Event().wait(0.25)

    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answers)
    assert all(answer.endswith(b"}") for answer in answers)


def test_serve_on_a_taken_port_stops_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[str] = []
    monkeypatch.setattr("uvicorn.run", lambda target, **_: started.append(target))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = int(holder.getsockname()[1])

        with pytest.raises(SystemExit) as stopped:
            serve("pkg.api:create_app", ProjectSettings(), port=port)

    assert str(stopped.value) == (
        f"error: port {port} on 127.0.0.1 is in use: stop what holds it, or serve on "
        f"another one (API_PORT={port + 1} make serve)"
    )
    assert started == []


async def test_the_docs_pages_load_their_assets_from_the_app_not_a_cdn(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, _ = served
    pages = [await client.get(page) for page in ("/docs", "/redoc")]
    scripts = re.findall(r'src="([^"]+\.js)"', "".join(page.text for page in pages))
    assets = [await client.get(script) for script in scripts]

    assert [page.status_code for page in pages] == [200, 200]
    assert len(scripts) == 2
    assert all(script.startswith(DOCS_ASSETS + "/") for script in scripts)
    assert [asset.status_code for asset in assets] == [200, 200]
    assert all(len(asset.content) > 100_000 for asset in assets)


async def test_documentation_requests_are_labelled_not_unmatched(
    served: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, state = served
    for path in ("/docs", "/openapi.json", f"{DOCS_ASSETS}/swagger-ui.css"):
        await client.get(path)

    def counted(route: str) -> float | None:
        labels = {"method": "GET", "route": route, "status": "200"}
        return state.metrics.registry.get_sample_value("http_requests_total", labels)

    assert counted("/docs") == 1.0
    assert counted("/openapi.json") == 1.0
    assert counted(DOCS_ASSETS) == 1.0
    assert counted("unmatched") is None


async def test_probes_are_not_counted_against_the_concurrency_limit() -> None:
    app, state = _app(max_concurrent_requests=1)
    seen: list[int] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/health")
        state.before_scrape.append(lambda: seen.append(_guard(app).in_progress))
        held = asyncio.create_task(client.get("/slow"))
        while app.state.entered < 1:
            await asyncio.sleep(0)
        scraped = await client.get("/metrics")
        app.state.release.set()
        await held

    # The scrape ran while a request held the only place: it was served, and it
    # counted as nothing (a slow scrape must not take a prediction's place).
    assert scraped.status_code == 200
    assert seen == [1]
    assert _guard(app).in_progress == 0


async def test_refusals_are_logged_once_per_interval_with_their_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _ = _app(max_concurrent_requests=1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        held = asyncio.create_task(client.get("/slow"))
        while app.state.entered < 1:
            await asyncio.sleep(0)
        with caplog.at_level("INFO", logger=service.__name__):
            refused = [await client.post("/echo", json={"n": 1}) for _ in range(5)]
            quiet = [record for record in caplog.records if record.name == service.__name__]
            monkeypatch.setattr(service, "REFUSAL_LOG_SECONDS", 0.0)
            app.state.release.set()
            await held
            await client.post("/echo", json={"n": 2})

    assert [response.status_code for response in refused] == [503] * 5
    assert quiet == []  # five refusals within a second: not one line each
    summary = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(summary) == 1
    assert getattr(summary[0], "refused") == 5  # noqa: B009 - a log record's extra


async def test_a_large_body_is_handled_off_the_event_loop_and_a_small_one_on_it() -> None:
    app, _ = _app(max_body_bytes=1_000_000)
    loop_thread = threading.get_ident()
    rows = [{"n": i} for i in range(2_000)]
    assert len(json.dumps(rows)) > INLINE_BODY_BYTES
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        small = await client.post("/bulk", json=rows[:3])
        large = await client.post("/bulk", json=rows)
        invalid = await client.post("/bulk", json=[{"n": "x"}] * 2_000)

    assert small.json() == {"rows": 3}
    assert large.json() == {"rows": 2_000}
    inline, offloaded = app.state.bulk_threads
    assert inline == loop_thread
    assert offloaded != loop_thread
    # Errors raised off the loop get the same bounded 422 as on it.
    assert invalid.status_code == 422
    assert invalid.json()["errors_total"] == 2_000
    assert len(invalid.json()["detail"]) == MAX_ERRORS_SHOWN


async def test_a_body_cut_short_on_an_off_loop_route_is_a_400_not_a_500() -> None:
    app, _ = _app(max_body_bytes=1_000_000)
    sent: list[dict[str, object]] = []
    messages: Iterator[dict[str, object]] = iter(
        [{"type": "http.request", "body": b"[", "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/bulk",
        "raw_path": b"/bulk",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]

    assert sent[0]["status"] == 400
    assert b"before the whole body arrived" in sent[1]["body"]  # type: ignore[operator]

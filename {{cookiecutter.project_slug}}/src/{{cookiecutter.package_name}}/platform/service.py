"""HTTP plumbing every served variant shares: probes, Prometheus metrics, request ids,
and the guards that keep a hostile or overloaded client from hurting the others.

A variant's `api.py` builds its app with `api_app(...)`, then calls
`instrument(app, state, settings)` and adds only its own endpoints.
"""

import asyncio
import json
import logging
import math
import re
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import ProjectSettings
from .logs import request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Client ids are echoed into logs and headers: accept only short, plain tokens.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A 422 lists this many errors and echoes this much of each input, whatever was sent:
# a small body of many bad fields must not buy a large, slow answer.
MAX_ERRORS_SHOWN = 10
MAX_INPUT_CHARS = 200
# Operations endpoints answer even when the model endpoints are saturated.
UNLIMITED_PATHS = frozenset({"/health", "/ready", "/metrics"})
RETRY_AFTER_SECONDS = 1
# Bodies up to this size are decoded, validated and answered on the event loop; larger
# ones in a worker thread (see OffLoopRoute).
INLINE_BODY_BYTES = 8192
# Under overload one log line per refusal would cost more than the refusal itself:
# refusals are counted and logged once per this many seconds instead.
REFUSAL_LOG_SECONDS = 1.0


@dataclass
class ServiceMetrics:
    """Per-app registry, so several apps (tests, workers) never share counters."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )


@dataclass
class ServiceState:
    """What the probes report: the app is ready only once its model has loaded."""

    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    ready: bool = False
    not_ready_reason: str = "model is loading"
    model_version: str | None = None
    # Called just before /metrics renders, to refresh gauges computed on demand.
    before_scrape: list[Callable[[], None]] = field(default_factory=list)

    def mark_ready(self, model_version: str) -> None:
        self.ready = True
        self.model_version = model_version
        self.not_ready_reason = ""

    def mark_failed(self, reason: str) -> None:
        self.ready = False
        self.not_ready_reason = reason


def json_safe(value: Any) -> Any:
    """`value` with what JSON in UTF-8 cannot carry written as text: non-finite
    floats as "inf" and "nan", lone surrogates as backslash escapes."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    return value


def _bounded_input(value: Any) -> Any:
    """`value` as sent when it is short; otherwise the start of it as JSON text.

    Only the first items of a container are encoded: a missing field echoes the
    whole object it was missing from, which may be most of the body.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        head, count, unit = (
            json.dumps(dict(islice(value.items(), MAX_ERRORS_SHOWN)), default=str),
            len(value),
            "items",
        )
    elif isinstance(value, list):
        head, count, unit = json.dumps(value[:MAX_ERRORS_SHOWN], default=str), len(value), "items"
    else:
        head, count, unit = str(value), 1, "characters"
    if count <= MAX_ERRORS_SHOWN and len(head) <= MAX_INPUT_CHARS:
        return value
    size = len(head) if unit == "characters" else count
    return f"{head[:MAX_INPUT_CHARS]}... ({size:,} {unit} in all)"


def bounded_errors(errors: Sequence[Any]) -> dict[str, Any]:
    """The first MAX_ERRORS_SHOWN errors with short inputs, and how many there were."""
    shown = [
        error | {"input": _bounded_input(error.get("input"))} if isinstance(error, dict) else error
        for error in errors[:MAX_ERRORS_SHOWN]
    ]
    body: dict[str, Any] = {"detail": json_safe(jsonable_encoder(shown))}
    if len(errors) > MAX_ERRORS_SHOWN:
        body["errors_total"] = len(errors)
        body["errors_omitted"] = len(errors) - MAX_ERRORS_SHOWN
    return body


async def invalid_request(_: Request, exc: Exception) -> Response:
    """422 with pydantic's errors, like FastAPI's own handler, but bounded and encodable.

    The errors echo the input, and Python's json module reads `Infinity`, `NaN`
    and escaped lone surrogates (`"\\ud800"`): FastAPI's own handler fails to
    encode those, and the client would get a 500 for a bad request. Only the first
    errors are listed, with inputs cut short, so the answer stays small and cheap.
    """
    errors = exc.errors() if isinstance(exc, RequestValidationError) else [str(exc)]
    return JSONResponse(bounded_errors(errors), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


# Where the documentation pages load Swagger UI and ReDoc from: the app itself.
DOCS_ASSETS = "/docs-assets"


def api_app(
    title: str,
    version: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> FastAPI:
    """A FastAPI app whose /docs and /redoc work offline: their scripts and styles are
    served by the app (from the fastapi-offline package), not fetched from a CDN."""
    from fastapi_offline import FastAPIOffline

    app: FastAPI = FastAPIOffline(
        title=title, version=version, lifespan=lifespan, static_url=DOCS_ASSETS
    )
    return app


def _route_label(scope: Scope) -> str:
    """The route template (`/items/{id}`), never the raw path, to bound label cardinality.

    The schema and the documentation assets are plain routes without a template:
    they are labelled by their fixed path, and anything else unknown is "unmatched".
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    if scope["path"] == getattr(app, "openapi_url", None):
        return str(scope["path"])
    if str(scope["path"]).startswith(DOCS_ASSETS + "/"):
        return DOCS_ASSETS
    return "unmatched"


def probes_router(state: ServiceState, metrics: bool = True) -> APIRouter:
    """`/health` (the process is up), `/ready` (it can serve) and `/metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", responses={503: {"description": "Model not loaded yet"}})
    async def ready() -> JSONResponse:
        if not state.ready:
            return JSONResponse(
                {"status": "not ready", "reason": state.not_ready_reason},
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return JSONResponse({"status": "ready", "model_version": state.model_version})

    async def scrape() -> Response:
        for refresh in state.before_scrape:
            refresh()
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if metrics:
        router.add_api_route(
            "/metrics",
            scrape,
            methods=["GET"],
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus"}},
        )
    return router


class ObservabilityMiddleware:
    """Pure ASGI middleware: tags, times, counts and logs each HTTP request.

    It also guards the app: beyond MAX_CONCURRENT_REQUESTS in progress a request
    gets an immediate 503 with Retry-After instead of a place in a queue that only
    grows; a body over MAX_BODY_BYTES gets a 413, by its declared length before
    anything is read or while a chunked body streams in; a body that stalls for
    CLIENT_TIMEOUT_SECONDS gets a 408. Written against ASGI directly rather than
    `@app.middleware("http")`, which wraps every request in extra tasks and streams
    and costs far more per call.
    """

    def __init__(self, app: ASGIApp, state: ServiceState, settings: ProjectSettings) -> None:
        self.app = app
        self.state = state
        self.metrics = settings.metrics_enabled
        self.max_body_bytes = settings.max_body_bytes
        self.max_concurrent = settings.max_concurrent_requests
        self.client_timeout = settings.client_timeout_seconds
        # Requests on limited paths in progress: probes are neither refused nor counted,
        # so a slow scrape never takes a place that a prediction needs.
        self.in_progress = 0
        self.refused = 0
        self.refusals_logged_at = time.monotonic()

    def _refusal(self, scope: Scope, headers: Headers, request_id: str) -> JSONResponse | None:
        """A 503 when busy or a 413 for a declared oversize body; None to go ahead."""
        if scope["path"] not in UNLIMITED_PATHS and self.in_progress >= self.max_concurrent:
            self.refused += 1
            return JSONResponse(
                {
                    "detail": f"busy: {self.in_progress} requests in progress "
                    f"(MAX_CONCURRENT_REQUESTS={self.max_concurrent}); "
                    f"retry in {RETRY_AFTER_SECONDS} s",
                    "request_id": request_id,
                },
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                # Closing spares the server the rest of a large body it will never use.
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"},
            )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return JSONResponse(
                {"detail": self._too_large(f"{int(declared):,}"), "request_id": request_id},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            )
        return None

    def _too_large(self, size: str) -> str:
        return f"request body is {size} bytes; the limit is MAX_BODY_BYTES={self.max_body_bytes:,}"

    def _guarded(self, receive: Receive) -> Receive:
        """`receive` that enforces MAX_BODY_BYTES and CLIENT_TIMEOUT_SECONDS on the body."""
        received = 0
        body_complete = False

        async def receive_within_limit() -> Message:
            nonlocal received, body_complete
            if body_complete:  # later calls wait for a disconnect, which may take long
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.client_timeout)
            except TimeoutError:
                raise HTTPException(
                    status.HTTP_408_REQUEST_TIMEOUT,
                    f"request body stalled for {self.client_timeout:g} s (CLIENT_TIMEOUT_SECONDS)",
                ) from None
            body_complete = message["type"] != "http.request" or not message.get("more_body")
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                # FastAPI turns anything else raised while it reads a body into a 400.
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    self._too_large(f"over {self.max_body_bytes:,}"),
                )
            return message

        return receive_within_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        supplied = headers.get(REQUEST_ID_HEADER, "")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status_code, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status_code = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            refusal = self._refusal(scope, headers, request_id)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
            elif scope["path"] in UNLIMITED_PATHS:
                await self.app(scope, self._guarded(receive), send_with_id)
            else:
                self.in_progress += 1
                try:
                    await self.app(scope, self._guarded(receive), send_with_id)
                finally:
                    self.in_progress -= 1
        except Exception:
            logger.exception("unhandled error", extra={"path": scope.get("path")})
            if started_response:
                raise
            error = JSONResponse(
                {"detail": "internal error", "request_id": request_id},
                status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            )
            await error(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            request_id_var.reset(token)
            self._record(scope, status_code, elapsed, request_id)

    def _record(self, scope: Scope, status_code: int, elapsed: float, request_id: str) -> None:
        route = _route_label(scope)
        method = scope["method"]
        if self.metrics:
            self.state.metrics.requests.labels(method, route, str(status_code)).inc()
            self.state.metrics.latency.labels(method, route).observe(elapsed)
        if self.refused:
            self._log_refusals()
            if status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
                return
        logger.info(
            "request",
            extra={
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": status_code,
                "duration_ms": round(elapsed * 1000, 3),
            },
        )

    def _log_refusals(self) -> None:
        """One warning per REFUSAL_LOG_SECONDS with the number of busy refusals."""
        now = time.monotonic()
        if now - self.refusals_logged_at < REFUSAL_LOG_SECONDS:
            return
        logger.warning(
            "busy: requests refused with 503",
            extra={
                "refused": self.refused,
                "seconds": round(now - self.refusals_logged_at, 3),
                "max_concurrent_requests": self.max_concurrent,
            },
        )
        self.refused, self.refusals_logged_at = 0, now


class OffLoopRoute(APIRoute):
    """A route whose large requests are decoded, handled and encoded in a worker thread.

    FastAPI parses JSON, validates it and serialises the answer on the event loop:
    a 1,000-row batch holds the loop for tens of milliseconds, and every request
    behind it, refusals and probes included, waits. Above INLINE_BODY_BYTES the body
    is read on the loop, then the whole handler runs on its own loop in a thread, so
    the concurrency limit counts real work and refusals stay fast. Endpoints on such
    a route must not share loop-bound objects (locks, queues) with the main loop.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) <= INLINE_BODY_BYTES:
                return await handler(request)
            try:
                await request.body()  # the worker reads the cached body, never the socket
            except ClientDisconnect:
                raise HTTPException(
                    status.HTTP_400_BAD_REQUEST,
                    "the connection closed before the whole body arrived",
                ) from None
            return await asyncio.to_thread(asyncio.run, handler(request))

        return route_handler


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {}}}


# Answers the guards give on any endpoint, so the published schema lists them.
GUARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("The body is not valid JSON (or not UTF-8)"),
    408: _error("The body stalled for longer than CLIENT_TIMEOUT_SECONDS"),
    413: _error("The body is larger than MAX_BODY_BYTES"),
    503: _error("Not ready yet, or busy (MAX_CONCURRENT_REQUESTS): see Retry-After"),
}


def instrument(app: FastAPI, state: ServiceState, settings: ProjectSettings) -> None:
    """Add the probes, the guarding middleware and bounded 422s to `app`.

    Call it before declaring the app's own endpoints: they then document the
    guards' answers (400, 408, 413, 503) in the OpenAPI schema. METRICS_ENABLED=false
    keeps request ids and logs but drops the Prometheus counters and `/metrics`.
    """
    app.router.responses = {**GUARD_RESPONSES, **app.router.responses}
    app.include_router(probes_router(state, settings.metrics_enabled))
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_middleware(ObservabilityMiddleware, state=state, settings=settings)


# uvicorn closes an idle connection only after it has answered a request on it, and
# never times out a request whose headers arrive a byte at a time: a client that
# connects and sends nothing, or drips its headers, would hold its socket forever.
_HEADERS_TIMEOUT_MESSAGE = b"request headers took longer than CLIENT_TIMEOUT_SECONDS"
_HEADERS_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
    % (len(_HEADERS_TIMEOUT_MESSAGE), _HEADERS_TIMEOUT_MESSAGE)
)


class IdleTimeoutHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with two more deadlines, both CLIENT_TIMEOUT_SECONDS
    (uvicorn's keep-alive timeout): a new connection must start a request, and a
    started request must finish its headers (then 408 and close)."""

    headers_timeout_task: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._cancel_headers_timeout()
        self.headers_timeout_task = self.loop.call_later(
            self.timeout_keep_alive, self._headers_timed_out
        )

    def on_headers_complete(self) -> None:
        self._cancel_headers_timeout()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_headers_timeout()
        super().connection_lost(exc)

    def _cancel_headers_timeout(self) -> None:
        if self.headers_timeout_task is not None:
            self.headers_timeout_task.cancel()
            self.headers_timeout_task = None

    def _headers_timed_out(self) -> None:
        self.headers_timeout_task = None
        if not self.transport.is_closing():
            self.transport.write(_HEADERS_TIMED_OUT)
            self.transport.close()


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens there (a socket in TIME_WAIT does not count,
    as uvicorn binds with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def serve(
    factory: str,
    settings: ProjectSettings,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> None:
    """Run uvicorn on an app factory (`package.api:create_app`); settings fill the gaps.

    A port that is taken stops it at once with one line, before any model loads.
    """
    import uvicorn

    host, port = host or settings.api_host, port or settings.api_port
    if port_in_use(host, port):
        raise SystemExit(
            f"error: port {port} on {host} is in use: stop what holds it, or serve on "
            f"another one (API_PORT={port + 1} make serve)"
        )
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.api_workers,
        log_config=None,
        access_log=False,  # the app logs each request itself, with its request id
        http=IdleTimeoutHttpToolsProtocol,
        # A flood of connections is refused by uvicorn itself, before the app's own
        # MAX_CONCURRENT_REQUESTS check, which sees only requests it is running.
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=max(1, round(settings.client_timeout_seconds)),
        # Workers import the ML stack before answering the supervisor's ping; on a
        # small, busy machine that takes longer than uvicorn's 5 s default.
        timeout_worker_healthcheck=60,
    )

"""HTTP plumbing every served variant shares: probes, Prometheus metrics, request ids.

A variant's `api.py` builds its FastAPI app, then calls
`instrument(app, state, settings)` and adds only its own endpoints.
"""

import logging
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import ProjectSettings
from .logs import request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Client ids are echoed into logs and headers: accept only short, plain tokens.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


async def invalid_request(_: Request, exc: Exception) -> Response:
    """422 with pydantic's errors, like FastAPI's own handler, but always encodable.

    The errors echo the input, and Python's json module reads `Infinity`, `NaN`
    and escaped lone surrogates (`"\\ud800"`): FastAPI's own handler fails to
    encode those, and the client would get a 500 for a bad request.
    """
    errors = exc.errors() if isinstance(exc, RequestValidationError) else [str(exc)]
    return JSONResponse(
        {"detail": json_safe(jsonable_encoder(errors))},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def _route_label(scope: Scope) -> str:
    """The route template (`/items/{id}`), never the raw path, to bound label cardinality."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


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
        router.add_api_route("/metrics", scrape, methods=["GET"])
    return router


class ObservabilityMiddleware:
    """Pure ASGI middleware: tags, times, counts and logs each HTTP request.

    It also refuses bodies over `max_body_bytes` with a 413, by their declared
    length before anything is read, or while a chunked body streams in, so an
    oversized request never reaches a parser. Written against ASGI directly rather
    than `@app.middleware("http")`, which wraps every request in extra tasks and
    streams and costs far more per call.
    """

    def __init__(
        self,
        app: ASGIApp,
        state: ServiceState,
        metrics: bool = True,
        max_body_bytes: int = 1_048_576,
    ) -> None:
        self.app = app
        self.state = state
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    def _too_large(self, size: str) -> str:
        return f"request body is {size} bytes; the limit is MAX_BODY_BYTES={self.max_body_bytes:,}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        supplied = headers.get(REQUEST_ID_HEADER, "")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
        started_response = False
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                # FastAPI turns anything else raised while it reads a body into a 400.
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    self._too_large(f"over {self.max_body_bytes:,}"),
                )
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status_code, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status_code = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        started = time.perf_counter()
        declared = headers.get("content-length", "")
        try:
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                too_large = JSONResponse(
                    {"detail": self._too_large(f"{int(declared):,}"), "request_id": request_id},
                    status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                )
                await too_large(scope, receive, send_with_id)
            else:
                await self.app(scope, receive_within_limit, send_with_id)
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


def instrument(app: FastAPI, state: ServiceState, settings: ProjectSettings) -> None:
    """Add the probes, the observability middleware and escaped 422s to `app`.

    METRICS_ENABLED=false keeps request ids and logs but drops the Prometheus
    counters and `/metrics`, to measure what they cost; MAX_BODY_BYTES bounds
    what a request may send.
    """
    app.include_router(probes_router(state, settings.metrics_enabled))
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_middleware(
        ObservabilityMiddleware,
        state=state,
        metrics=settings.metrics_enabled,
        max_body_bytes=settings.max_body_bytes,
    )


def serve(
    factory: str,
    settings: ProjectSettings,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> None:
    """Run uvicorn on an app factory (`package.api:create_app`); settings fill the gaps."""
    import uvicorn

    uvicorn.run(
        factory,
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers or settings.api_workers,
        log_config=None,
        access_log=False,  # the app logs each request itself, with its request id
        # Workers import the ML stack before answering the supervisor's ping; on a
        # small, busy machine that takes longer than uvicorn's 5 s default.
        timeout_worker_healthcheck=60,
    )

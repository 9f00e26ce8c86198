"""HTTP plumbing every served variant shares: probes, Prometheus metrics, request ids.

A variant's `api.py` builds its FastAPI app, then calls `instrument(app, state)`
and adds only its own endpoints.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI, Response, status
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

    Written against ASGI directly rather than `@app.middleware("http")`, which
    wraps every request in extra tasks and streams and costs far more per call.
    """

    def __init__(self, app: ASGIApp, state: ServiceState, metrics: bool = True) -> None:
        self.app = app
        self.state = state
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
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
            await self.app(scope, receive, send_with_id)
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


def instrument(app: FastAPI, state: ServiceState, metrics: bool = True) -> None:
    """Add the probes and the observability middleware to `app`.

    `metrics=False` (METRICS_ENABLED=false) keeps request ids and logs but drops
    the Prometheus counters and `/metrics`, to measure what they cost.
    """
    app.include_router(probes_router(state, metrics))
    app.add_middleware(ObservabilityMiddleware, state=state, metrics=metrics)


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

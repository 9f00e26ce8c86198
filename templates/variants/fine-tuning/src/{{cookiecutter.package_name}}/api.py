"""The generation API: `POST /generate` on base + adapter, plus the shared probes.

Served by `uvicorn <package>.api:create_app --factory` (see `cli.serve`). The model
loads in the background after start-up, so `/health` answers at once and `/ready`
turns 200 only when generation can be served (503 with the reason until then,
for instance when no adapter was trained yet).
"""

import functools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.routing import APIRoute

from . import __version__
from .generation import (
    GenerationMetrics,
    GenerationQueue,
    ModelLoader,
    conversation,
    enter_queue,
    generate_unless_gone,
    load_adapter_model,
    timeout_setting,
    unavailable,
)
from .platform.config import PROJECT
from .platform.host import ModelHost
from .platform.service import api_app, instrument
from .schema import GenerateRequest, GenerateResponse, bounded_request, generate_body_limit
from .settings import Settings, get_settings

logger = logging.getLogger(__name__)


def bounded_body_route(limit: int) -> type[APIRoute]:
    """A route that answers 413 to a body declared longer than any valid request
    before parsing it: a 400 KB body of unknown fields would otherwise hold the event
    loop (and every generation behind it) while it is decoded and validated."""

    class BoundedBodyRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def route_handler(request: Request) -> Response:
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise HTTPException(
                        status.HTTP_413_CONTENT_TOO_LARGE,
                        f"request body is {int(declared):,} bytes; a /generate request is at "
                        f"most {limit:,} with MAX_PROMPT_CHARS (12 bytes a character, + 4 KB)",
                    )
                return await handler(request)

            return route_handler

    return BoundedBodyRoute


def _not_loaded_reason(exc: Exception) -> str:
    """Why /ready is 503, naming the setting and the fix: the folder's path (and the
    exception's text, which may hold it) stay in the server log, out of the answer."""
    from .modeling import NonFiniteWeightsError

    if isinstance(exc, FileNotFoundError):
        return (
            "no trained adapter in ADAPTER_DIR: run `make train` first, or set ADAPTER_DIR "
            "to a folder that `make train` exported"
        )
    if isinstance(exc, NonFiniteWeightsError):
        return "the adapter in ADAPTER_DIR holds NaN or infinite weights: run `make train` again"
    return (
        f"the adapter in ADAPTER_DIR could not be loaded ({type(exc).__name__}; details in "
        "the server log): run `make train` again"
    )


def create_app(
    settings: Settings | None = None, loader: ModelLoader = load_adapter_model
) -> FastAPI:
    """Build the app; `loader` is injectable so tests need no trained adapter."""
    settings = settings or get_settings()
    # Whatever a damaged adapter folder raises (safetensors, peft, a tokenizer), the
    # service stays up and /ready says why (naming ADAPTER_DIR, never its path).
    host = ModelHost(
        functools.partial(loader, settings.adapter_dir),
        lambda loaded: loaded.version,
        unavailable=(Exception,),
        reason=_not_loaded_reason,
    )
    queue = GenerationQueue()
    metrics = GenerationMetrics.create(host.state.metrics.registry)
    dropped = metrics.dropped
    app = api_app(PROJECT, __version__, host.lifespan(settings.log_level))
    app.state.host = host
    app.state.queue = queue
    instrument(app, host.state, settings)

    async def generate(body: GenerateRequest, request: Request) -> GenerateResponse | Response:
        """Greedy completion of one prompt by base + adapter (or the base alone)."""
        # Not a dependency: FastAPI solves those before the body, and a bad request is
        # a 422 whether or not the model has loaded.
        loaded = host.require()
        messages = conversation(loaded, body, settings.max_prompt_tokens)
        started = time.perf_counter()
        deadline = time.monotonic() + settings.generation_timeout_seconds
        await enter_queue(queue, settings, dropped)
        try:
            text = await generate_unless_gone(
                request, loaded, messages, body, deadline, threads=settings.generation_threads
            )
        finally:
            queue.lock.release()
        if text is None:
            # Nobody to answer: the work was dropped (or cut short) when the client left.
            dropped.labels("client_left").inc()
            return Response(status_code=499)
        if time.monotonic() > deadline:
            dropped.labels("timeout").inc()
            raise unavailable(f"generation took longer than {timeout_setting(settings)}")
        label_or_none = metrics.record(loaded, text, body.use_adapter, started)
        return GenerateResponse(
            text=text, label=label_or_none, model_version=loaded.version, adapter=body.use_adapter
        )

    # FastAPI takes the request model from the annotation: give it the one that carries
    # this server's limits (still a GenerateRequest for the code above).
    generate.__annotations__["body"] = bounded_request(
        settings.max_prompt_chars, settings.max_new_tokens_cap
    )
    limit = generate_body_limit(settings.max_prompt_chars)
    router = APIRouter(route_class=bounded_body_route(limit))
    router.post(
        "/generate",
        response_model=GenerateResponse,
        responses={
            503: {"description": "Model not loaded, queue full or timed out (Retry-After)"},
            422: {"description": "Bad input, or a prompt over MAX_PROMPT_TOKENS"},
            413: {"description": "Body over MAX_BODY_BYTES, or longer than any valid request"},
        },
        tags=["model"],
    )(generate)
    app.include_router(router)

    return app

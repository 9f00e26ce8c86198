"""The generation API: `POST /generate` on base + adapter, plus the shared probes.

Served by `uvicorn <package>.api:create_app --factory` (see `cli.serve`). The model
loads in the background after start-up, so `/health` answers at once and `/ready`
turns 200 only when generation can be served (503 with the reason until then,
for instance when no adapter was trained yet).
"""

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from prometheus_client import Counter, Histogram

from . import __version__
from .dataset import INSTRUCTION, LABELS
from .evaluation import normalize
from .platform.config import PROJECT
from .platform.host import ModelHost
from .platform.service import api_app, instrument
from .schema import GenerateRequest, GenerateResponse, bounded_request, generate_body_limit
from .settings import Settings, get_settings

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A PEFT model (base + adapter) and its tokenizer."""

    model: Any
    tokenizer: Any
    version: str


ModelLoader = Callable[[Path], LoadedModel]


def load_adapter_model(source: Path) -> LoadedModel:
    """Load base + adapter for serving, in full precision (bf16 on a GPU that has it)."""
    from .modeling import detect_precision, load_adapter

    model, tokenizer, base_name = load_adapter(source, detect_precision("none"))
    # A local base is named by its folder alone: no paths of this machine in answers.
    shown = Path(base_name).name if base_name.startswith(("/", ".", "~")) else base_name
    return LoadedModel(model, tokenizer, f"{shown}+lora")


@dataclass
class GenerationQueue:
    """The one-at-a-time queue in front of the model: the adapter toggle and the
    model are shared state, so one generation runs at a time."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0  # requests queued for the lock


# The client may retry after this many seconds when the queue is full.
RETRY_AFTER_SECONDS = 1
DISCONNECT_POLL_SECONDS = 0.1


def _generate(
    loaded: LoadedModel,
    messages: list[dict[str, str]],
    max_new_tokens: int,
    adapter: bool,
    should_stop: Callable[[], bool],
    *,
    threads: int = 0,
) -> str:
    from .sft import generate

    if threads:  # per call: the setting is per thread, and this runs in a pool's thread
        import torch

        torch.set_num_threads(threads)

    context = nullcontext() if adapter else loaded.model.disable_adapter()
    with context:
        (text,) = generate(
            loaded.model,
            loaded.tokenizer,
            [messages],
            max_new_tokens=max_new_tokens,
            should_stop=should_stop,
        )
    return text


def _unavailable(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        reason,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _watch_disconnect(request: Request, left: threading.Event) -> None:
    """Set `left` when the client hangs up, so generation stops at the next token."""
    while not left.is_set():
        if await request.is_disconnected():
            left.set()
            return
        await asyncio.sleep(DISCONNECT_POLL_SECONDS)


@dataclass(frozen=True)
class GenerationMetrics:
    """What /metrics adds to the shared request metrics for generation."""

    tokens: Counter
    seconds: Histogram
    labels: Counter
    dropped: Counter

    @classmethod
    def create(cls, registry: Any) -> "GenerationMetrics":
        return cls(
            tokens=Counter(
                "generated_tokens_total",
                "Tokens generated, by adapter use.",
                ["adapter"],
                registry=registry,
            ),
            seconds=Histogram(
                "generation_duration_seconds",
                "Time spent in model.generate.",
                buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
                registry=registry,
            ),
            labels=Counter(
                "generated_labels_total", "Routing labels answered.", ["label"], registry=registry
            ),
            dropped=Counter(
                "generation_dropped_total",
                "Generations refused or stopped: queue_full, timeout, client_left.",
                ["reason"],
                registry=registry,
            ),
        )

    def record(self, loaded: LoadedModel, text: str, adapter: bool, started: float) -> str | None:
        """Count one answer; return its routing label, if it is one."""
        self.seconds.observe(time.perf_counter() - started)
        self.tokens.labels(str(adapter).lower()).inc(len(loaded.tokenizer(text)["input_ids"]))
        label = normalize(text)
        label_or_none = label if label in LABELS else None
        self.labels.labels(label_or_none or "other").inc()
        return label_or_none


def _messages(loaded: LoadedModel, body: GenerateRequest, max_tokens: int) -> list[dict[str, str]]:
    """The conversation to generate from, or a 422 when it is over MAX_PROMPT_TOKENS."""
    from .sft import escape_special_tokens, prompt_tokens

    # The user's text may spell special tokens; only the chat template writes them.
    prompt = escape_special_tokens(loaded.tokenizer, body.prompt)
    prompt = INSTRUCTION + prompt if body.task_instruction else prompt
    messages = [{"role": "user", "content": prompt}]
    tokens = prompt_tokens(loaded.tokenizer, messages)
    if tokens > max_tokens:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the prompt is {tokens} tokens with the chat template; the limit is "
            f"MAX_PROMPT_TOKENS={max_tokens}",
        )
    return messages


def _timeout(settings: Settings) -> str:
    return f"GENERATION_TIMEOUT_SECONDS={settings.generation_timeout_seconds:g}"


async def _enter_queue(queue: GenerationQueue, settings: Settings, dropped: Counter) -> None:
    """Take the model (one generation at a time: the adapter toggle and the model are
    shared state), or refuse at once when the queue is full, or after the timeout."""
    if queue.waiting >= settings.generation_queue and queue.lock.locked():
        dropped.labels("queue_full").inc()
        raise _unavailable(
            f"{queue.waiting} requests are waiting for the model "
            f"(GENERATION_QUEUE={settings.generation_queue}); retry shortly"
        )
    queue.waiting += 1
    try:
        await asyncio.wait_for(queue.lock.acquire(), settings.generation_timeout_seconds)
    except TimeoutError:
        dropped.labels("timeout").inc()
        raise _unavailable(
            f"the model stayed busy past {_timeout(settings)}; retry shortly"
        ) from None
    finally:
        queue.waiting -= 1


async def _generate_unless_gone(
    request: Request,
    loaded: LoadedModel,
    messages: list[dict[str, str]],
    body: GenerateRequest,
    deadline: float,
    *,
    threads: int,
) -> str | None:
    """The completion, or None when the client left before or during generation."""
    left = threading.Event()
    watcher = asyncio.create_task(_watch_disconnect(request, left))
    try:
        if await request.is_disconnected():
            return None
        text = await asyncio.to_thread(
            _generate,
            loaded,
            messages,
            body.max_new_tokens,
            body.use_adapter,
            lambda: left.is_set() or time.monotonic() > deadline,
            threads=threads,
        )
    finally:
        watcher.cancel()
    return None if left.is_set() else text


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
        messages = _messages(loaded, body, settings.max_prompt_tokens)
        started = time.perf_counter()
        deadline = time.monotonic() + settings.generation_timeout_seconds
        await _enter_queue(queue, settings, dropped)
        try:
            text = await _generate_unless_gone(
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
            raise _unavailable(f"generation took longer than {_timeout(settings)}")
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

"""The generation API: `POST /generate` on base + adapter, plus the shared probes.

Served by `uvicorn <package>.api:create_app --factory` (see `cli.serve`). The model
loads in the background after start-up, so `/health` answers at once and `/ready`
turns 200 only when generation can be served (503 with the reason until then,
for instance when no adapter was trained yet).
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, status
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field, create_model

from . import __version__
from .config import PROJECT
from .dataset import INSTRUCTION, LABELS
from .evaluation import normalize
from .logs import configure_logging
from .service import ServiceState, instrument
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
    return LoadedModel(model, tokenizer, f"{base_name}+lora")


class GenerateRequest(BaseModel):
    """The request contract; `bounded_request` adds this server's limits to it."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, description="The user message.")
    max_new_tokens: int = Field(default=8, ge=1)
    use_adapter: bool = Field(default=True, description="False answers with the base model.")
    task_instruction: bool = Field(
        default=True, description="Wrap the prompt in the routing instruction it was tuned on."
    )


def bounded_request(max_prompt_chars: int, max_new_tokens_cap: int) -> type[GenerateRequest]:
    """`GenerateRequest` with the configured limits (MAX_PROMPT_CHARS, MAX_NEW_TOKENS_CAP).

    One set of limits, checked by validation: a 422 names the limit this server
    applies, whatever the size of the value, and the OpenAPI schema shows it.
    """

    return create_model(
        "GenerateRequest",
        __base__=GenerateRequest,
        prompt=(
            str,
            Field(min_length=1, max_length=max_prompt_chars, description="The user message."),
        ),
        max_new_tokens=(
            int,
            Field(default=min(8, max_new_tokens_cap), ge=1, le=max_new_tokens_cap),
        ),
    )


class GenerateResponse(BaseModel):
    text: str
    label: str | None = Field(description="The routing label, when the answer is one.")
    model_version: str
    adapter: bool


@dataclass
class ModelSlot:
    model: LoadedModel | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    loading: asyncio.Task[None] | None = field(default=None, repr=False)


def _generate(loaded: LoadedModel, prompt: str, max_new_tokens: int, adapter: bool) -> str:
    from .sft import generate

    context = nullcontext() if adapter else loaded.model.disable_adapter()
    with context:
        (text,) = generate(
            loaded.model,
            loaded.tokenizer,
            [[{"role": "user", "content": prompt}]],
            max_new_tokens=max_new_tokens,
        )
    return text


def create_app(
    settings: Settings | None = None, loader: ModelLoader = load_adapter_model
) -> FastAPI:
    """Build the app; `loader` is injectable so tests need no trained adapter."""
    settings = settings or get_settings()
    state = ServiceState(not_ready_reason="model is loading")
    slot = ModelSlot()
    registry = state.metrics.registry
    generated_tokens = Counter(
        "generated_tokens_total",
        "Tokens generated, by adapter use.",
        ["adapter"],
        registry=registry,
    )
    generation_seconds = Histogram(
        "generation_duration_seconds",
        "Time spent in model.generate.",
        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        registry=registry,
    )
    labels = Counter(
        "generated_labels_total", "Routing labels answered.", ["label"], registry=registry
    )

    async def load_model() -> None:
        source = settings.adapter_dir
        try:
            slot.model = await asyncio.to_thread(loader, source)
        # Whatever a damaged adapter folder raises (safetensors, peft, a tokenizer),
        # the service stays up and /ready says why, instead of loading forever.
        except Exception as exc:
            reason = (
                str(exc)
                if isinstance(exc, FileNotFoundError)
                else f"{source} could not be loaded ({type(exc).__name__}: {exc}): "
                "run `make train` again"
            )
            state.mark_failed(reason)
            logger.error("model not loaded", extra={"adapter_dir": str(source), "error": reason})
            return
        state.mark_ready(slot.model.version)
        logger.info("model loaded", extra={"adapter_dir": str(source)})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        slot.loading = asyncio.create_task(load_model())
        yield
        slot.loading.cancel()

    app = FastAPI(title=PROJECT, version=__version__, lifespan=lifespan)
    app.state.model_slot = slot
    instrument(app, state, settings)

    async def generate(body: GenerateRequest) -> GenerateResponse:
        """Greedy completion of one prompt by base + adapter (or the base alone)."""
        loaded = slot.model
        if loaded is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, state.not_ready_reason)
        prompt = INSTRUCTION + body.prompt if body.task_instruction else body.prompt
        started = time.perf_counter()
        # One generation at a time: the adapter toggle and the model are shared state.
        async with slot.lock:
            text = await asyncio.to_thread(
                _generate, loaded, prompt, body.max_new_tokens, body.use_adapter
            )
        generation_seconds.observe(time.perf_counter() - started)
        adapter = str(body.use_adapter).lower()
        generated_tokens.labels(adapter).inc(len(loaded.tokenizer(text)["input_ids"]))
        label = normalize(text)
        label_or_none = label if label in LABELS else None
        labels.labels(label_or_none or "other").inc()
        return GenerateResponse(
            text=text, label=label_or_none, model_version=loaded.version, adapter=body.use_adapter
        )

    # FastAPI takes the request model from the annotation: give it the one that carries
    # this server's limits (still a GenerateRequest for the code above).
    generate.__annotations__["body"] = bounded_request(
        settings.max_prompt_chars, settings.max_new_tokens_cap
    )
    app.post(
        "/generate",
        response_model=GenerateResponse,
        responses={503: {"description": "Model not loaded"}, 422: {"description": "Bad input"}},
        tags=["model"],
    )(generate)

    return app

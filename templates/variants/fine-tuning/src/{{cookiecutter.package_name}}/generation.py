"""Generation behind `POST /generate`: the loader, the loaded model, the one-at-a-time
queue in front of it and its Prometheus metrics.

api.py builds the app from these; nothing here knows the routes.
"""

import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status
from prometheus_client import Counter, Histogram

from .dataset import INSTRUCTION, LABELS
from .evaluation import normalize
from .schema import GenerateRequest
from .settings import Settings


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


def unavailable(reason: str) -> HTTPException:
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


def conversation(
    loaded: LoadedModel, body: GenerateRequest, max_tokens: int
) -> list[dict[str, str]]:
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


def timeout_setting(settings: Settings) -> str:
    return f"GENERATION_TIMEOUT_SECONDS={settings.generation_timeout_seconds:g}"


async def enter_queue(queue: GenerationQueue, settings: Settings, dropped: Counter) -> None:
    """Take the model (one generation at a time: the adapter toggle and the model are
    shared state), or refuse at once when the queue is full, or after the timeout."""
    if queue.waiting >= settings.generation_queue and queue.lock.locked():
        dropped.labels("queue_full").inc()
        raise unavailable(
            f"{queue.waiting} requests are waiting for the model "
            f"(GENERATION_QUEUE={settings.generation_queue}); retry shortly"
        )
    queue.waiting += 1
    try:
        await asyncio.wait_for(queue.lock.acquire(), settings.generation_timeout_seconds)
    except TimeoutError:
        dropped.labels("timeout").inc()
        raise unavailable(
            f"the model stayed busy past {timeout_setting(settings)}; retry shortly"
        ) from None
    finally:
        queue.waiting -= 1


async def generate_unless_gone(
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

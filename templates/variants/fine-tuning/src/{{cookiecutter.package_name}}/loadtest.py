"""A bounded closed-loop load test of `POST /generate`: what one replica sustains.

A fixed pool of clients each sends its next request when the last is answered,
cycling through the test split's messages, for a fixed number of requests. The
result (throughput, latency percentiles, 503s) goes to a JSON file that `make
report` turns into the README's capacity table.
"""

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from itertools import cycle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from .dataset import load_jsonl
from .platform.closed_loop import closed_loop, machine, require_ready
from .platform.files import write_json

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class LoadTestResult:
    requests: int
    concurrency: int
    max_new_tokens: int
    # Answers other than 200 (503 when the generation queue is full, timeouts).
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    # What answered: the API's model_version (e.g. tiny+lora) and this machine.
    model_version: str
    machine: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def run(
    settings: "Settings",
    url: str | None = None,
    *,
    requests: int = 100,
    concurrency: int = 4,
    max_new_tokens: int = 8,
    output: Path = Path("results/load_test.json"),
) -> LoadTestResult:
    """`make load-test`: load a running API's /generate (by default the one at
    API_HOST:API_PORT) with the test split's messages; keep the figures in `output`."""
    # httpx logs every request at INFO: hundreds of lines that say nothing here.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    target = url or f"http://{settings.api_host}:{settings.api_port}/generate"
    require_ready(target)
    prompts = [example.text for example in load_jsonl(settings.split_path("test"))]
    result = asyncio.run(
        measure(
            target,
            prompts,
            requests=requests,
            concurrency=concurrency,
            max_new_tokens=max_new_tokens,
        )
    )
    write_json(output, result.as_dict())
    return result


async def measure(
    url: str,
    prompts: list[str],
    *,
    requests: int,
    concurrency: int,
    max_new_tokens: int,
    timeout: float = 60.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadTestResult:
    """Send `requests` generations from `concurrency` clients at once (`transport`:
    another way to reach the API than the network, for tests)."""
    if not prompts:
        raise ValueError("a load test needs at least one prompt")
    bodies = ({"prompt": prompt, "max_new_tokens": max_new_tokens} for prompt in cycle(prompts))
    versions: set[str] = set()

    def note_version(answer: httpx.Response) -> None:
        versions.add(str(answer.json().get("model_version", "")))

    measured = await closed_loop(
        url,
        bodies,
        requests=requests,
        concurrency=concurrency,
        timeout=timeout,
        transport=transport,
        on_answer=note_version,
    )
    return LoadTestResult(
        requests=requests,
        concurrency=concurrency,
        max_new_tokens=max_new_tokens,
        errors=measured.errors,
        seconds=measured.seconds,
        requests_per_second=measured.requests_per_second,
        p50_ms=measured.percentile_ms(0.50),
        p95_ms=measured.percentile_ms(0.95),
        p99_ms=measured.percentile_ms(0.99),
        model_version=",".join(sorted(versions)) or "no answer",
        machine=machine(),
    )

"""A bounded closed-loop load test of `POST /generate`: what one replica sustains.

A fixed pool of clients each sends its next request when the last is answered,
cycling through the test split's messages, for a fixed number of requests. The
result (throughput, latency percentiles, 503s) goes to a JSON file that `make
report` turns into the README's capacity table.
"""

import asyncio
import itertools
import os
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx


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


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def machine() -> str:
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs"


async def run(
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
    bodies = itertools.cycle(prompts)
    remaining = requests
    latencies: list[float] = []
    errors = 0
    versions: set[str] = set()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            body = {"prompt": next(bodies), "max_new_tokens": max_new_tokens}
            started = time.perf_counter()
            try:
                answer = await http.post(url, json=body)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            if answer.status_code == 200:
                versions.add(str(answer.json().get("model_version", "")))
            else:
                errors += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    ordered = sorted(latency * 1000 for latency in latencies)
    return LoadTestResult(
        requests=requests,
        concurrency=concurrency,
        max_new_tokens=max_new_tokens,
        errors=errors,
        seconds=round(seconds, 3),
        requests_per_second=round((requests - errors) / seconds, 2) if seconds > 0 else 0.0,
        p50_ms=round(percentile(ordered, 0.50), 1),
        p95_ms=round(percentile(ordered, 0.95), 1),
        p99_ms=round(percentile(ordered, 0.99), 1),
        model_version=",".join(sorted(versions)) or "no answer",
        machine=machine(),
    )

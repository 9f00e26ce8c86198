"""A bounded closed-loop load test of one endpoint: what one replica sustains.

A fixed pool of clients each sends its next body when its last one is answered, for
a fixed number of requests. Each variant's `make load-test` says what it sends and
what it keeps of the answers; the loop, the clock and the percentiles are shared.
"""

import asyncio
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx


class ApiNotReadyError(RuntimeError):
    """The API to load answers nothing, or is not ready; the message says what to do."""


def require_ready(target: str) -> None:
    """Stop before a load test when the API behind `target` is not up and ready."""
    ready = target.rsplit("/", 1)[0] + "/ready"
    try:
        answer = httpx.get(ready, timeout=5)
    except httpx.HTTPError:
        raise ApiNotReadyError(
            f"nothing answers at {ready}: start the API with `make serve`"
        ) from None
    if answer.status_code != 200:
        raise ApiNotReadyError(f"{ready} answered {answer.status_code}: {answer.text[:200]}")


@dataclass(frozen=True)
class Measured:
    requests: int
    # Answers other than 200 (503 when busy, timeouts, refused connections).
    errors: int
    seconds: float
    # Of every request that got an answer, sorted.
    latencies_ms: list[float]

    @property
    def requests_per_second(self) -> float:
        served = self.requests - self.errors
        return round(served / self.seconds, 2) if self.seconds > 0 else 0.0

    def percentile_ms(self, share: float) -> float:
        return round(percentile(self.latencies_ms, share), 1)


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def machine() -> str:
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs"


async def closed_loop(
    url: str,
    bodies: Iterator[dict[str, Any]],
    *,
    requests: int,
    concurrency: int,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    on_answer: Callable[[httpx.Response], None] | None = None,
) -> Measured:
    """POST `requests` of `bodies` from `concurrency` clients at once; `on_answer` sees
    each 200 (`transport`: another way to reach the API than the network, for tests)."""
    remaining = requests
    latencies: list[float] = []
    errors = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            body = next(bodies)
            started = time.perf_counter()
            try:
                answer = await http.post(url, json=body)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 200:
                errors += 1
            elif on_answer is not None:
                on_answer(answer)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    ordered = sorted(latency * 1000 for latency in latencies)
    return Measured(requests, errors, round(seconds, 3), ordered)

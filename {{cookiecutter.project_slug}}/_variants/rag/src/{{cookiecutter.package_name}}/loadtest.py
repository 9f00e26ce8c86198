"""A bounded closed-loop load test of `POST /query`: what one replica sustains.

A fixed pool of clients each sends its next question when the last is answered,
cycling through the corpus's questions, for a fixed number of requests. The result
(throughput, latency percentiles, refusals) goes to a JSON file that `make report`
turns into the README's capacity table.
"""

import asyncio
import itertools
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class LoadTestResult:
    requests: int
    concurrency: int
    retriever: str
    # Answers other than 200 (503 above MAX_CONCURRENT_REQUESTS, timeouts).
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    machine: str
    # Other work on the machine slows every figure: how busy it was at the end.
    load_average: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def machine() -> str:
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs"


async def run(
    url: str,
    questions: Sequence[str],
    *,
    requests: int,
    concurrency: int,
    retriever: str,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadTestResult:
    """Send `requests` questions from `concurrency` clients at once (`transport`: another
    way to reach the API than the network, for tests)."""
    if not questions:
        raise ValueError("a load test needs at least one question")
    bodies = itertools.cycle(questions)
    remaining = requests
    latencies: list[float] = []
    errors = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            body = {"question": next(bodies), "retriever": retriever}
            started = time.perf_counter()
            try:
                answer = await http.post(url, json=body)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            errors += answer.status_code != 200

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    ordered = sorted(latency * 1000 for latency in latencies)
    return LoadTestResult(
        requests=requests,
        concurrency=concurrency,
        retriever=retriever,
        errors=errors,
        seconds=round(seconds, 3),
        requests_per_second=round((requests - errors) / seconds, 2) if seconds > 0 else 0.0,
        p50_ms=round(percentile(ordered, 0.50), 1),
        p95_ms=round(percentile(ordered, 0.95), 1),
        p99_ms=round(percentile(ordered, 0.99), 1),
        machine=machine(),
        load_average=round(os.getloadavg()[0], 1),
    )

"""A bounded closed-loop load test of `POST /query`: what one replica sustains.

A fixed pool of clients each sends its next question when the last is answered,
cycling through the corpus's questions, for a fixed number of requests. The result
(throughput, latency percentiles, refusals) goes to a JSON file that `make report`
turns into the README's capacity table.
"""

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import cycle
from typing import Any

import httpx

from .platform.closed_loop import closed_loop, machine


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
    bodies = ({"question": question, "retriever": retriever} for question in cycle(questions))
    measured = await closed_loop(
        url,
        bodies,
        requests=requests,
        concurrency=concurrency,
        timeout=timeout,
        transport=transport,
    )
    return LoadTestResult(
        requests=requests,
        concurrency=concurrency,
        retriever=retriever,
        errors=measured.errors,
        seconds=measured.seconds,
        requests_per_second=measured.requests_per_second,
        p50_ms=measured.percentile_ms(0.50),
        p95_ms=measured.percentile_ms(0.95),
        p99_ms=measured.percentile_ms(0.99),
        machine=machine(),
        load_average=round(os.getloadavg()[0], 1),
    )

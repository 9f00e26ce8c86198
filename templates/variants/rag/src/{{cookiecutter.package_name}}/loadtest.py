"""A bounded closed-loop load test of `POST /query`: what one replica sustains.

A fixed pool of clients each sends its next question when the last is answered,
cycling through the corpus's questions, for a fixed number of requests. The result
(throughput, latency percentiles, refusals) goes to a JSON file that `make report`
turns into the README's capacity table.
"""

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx

from .corpus import CorpusError, load_queries
from .platform.closed_loop import closed_loop, machine, require_ready
from .platform.files import write_json
from .settings import Settings


class LoadTestError(Exception):
    """No API to load, or no questions to send it; the message says what to do."""


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

    @property
    def summary(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


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


def load_test(
    settings: Settings, url: str | None, *, requests: int, concurrency: int, output: Path
) -> LoadTestResult:
    """`make load-test`: check the API is ready, load it, write `output`."""
    # One INFO line per request from httpx would bury the summary.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    target = url or f"http://{settings.api_host}:{settings.api_port}/query"
    require_ready(target)
    corpus = settings.corpus_path
    try:
        questions = list(load_queries(corpus).values())
    except (CorpusError, OSError) as exc:
        raise LoadTestError(f"{corpus} has no questions to send ({exc})") from None
    if not questions:
        raise LoadTestError(f"{corpus}/queries.jsonl holds no questions to send")
    result = asyncio.run(
        run(
            target,
            questions,
            requests=requests,
            concurrency=concurrency,
            retriever=settings.retriever,
        )
    )
    write_json(output, result.as_dict())
    return result

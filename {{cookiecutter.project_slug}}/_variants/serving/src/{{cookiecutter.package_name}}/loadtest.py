"""A bounded HTTP load test: a fixed number of requests, latency percentiles, throughput.

Drives `/predict` with a fixed-size pool of concurrent clients and writes what it
measured to a JSON file that the README cites.
"""

import asyncio
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import numpy as np

from .dataset import generate
from .schema import FEATURES


@dataclass(frozen=True)
class LoadTestResult:
    requests: int
    concurrency: int
    batch_size: int
    errors: int
    seconds: float
    requests_per_second: float
    predictions_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    machine: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    latencies_s: Sequence[float], errors: int, seconds: float, concurrency: int, batch_size: int
) -> LoadTestResult:
    """Percentiles in milliseconds over all requests, errors included in the count."""
    if not latencies_s:
        raise ValueError("a load test needs at least one request")
    p50, p95, p99 = np.percentile(np.asarray(latencies_s) * 1000, [50, 95, 99])
    total = len(latencies_s)
    return LoadTestResult(
        requests=total,
        concurrency=concurrency,
        batch_size=batch_size,
        errors=errors,
        seconds=round(seconds, 3),
        requests_per_second=round(total / seconds, 1),
        predictions_per_second=round(total * batch_size / seconds, 1),
        p50_ms=round(float(p50), 2),
        p95_ms=round(float(p95), 2),
        p99_ms=round(float(p99), 2),
        machine=f"{platform.machine()} {platform.system()}, {_cpu_count()} CPUs",
    )


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def payloads(count: int, batch_size: int, seed: int = 7) -> list[dict[str, Any]]:
    """Realistic request bodies drawn from the same process as the training data."""
    frame = generate(count * batch_size, seed)[list(FEATURES)]
    records: list[dict[str, Any]] = [
        {str(key): value for key, value in row.items()} for row in frame.to_dict(orient="records")
    ]
    if batch_size == 1:
        return records
    return [{"instances": records[i : i + batch_size]} for i in range(0, len(records), batch_size)]


async def run(
    client: httpx.AsyncClient, requests: int, concurrency: int, batch_size: int = 1
) -> LoadTestResult:
    """Send `requests` POSTs to /predict from `concurrency` workers, then summarise."""
    if requests < 1 or concurrency < 1 or batch_size < 1:
        raise ValueError("requests, concurrency and batch_size must all be at least 1")
    bodies = payloads(requests, batch_size)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            try:
                response = await client.post("/predict", json=body)
                failed = response.status_code != 200
            except httpx.HTTPError:
                failed = True
            latencies.append(time.perf_counter() - started)
            errors += failed

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return summarize(latencies, errors, time.perf_counter() - started, concurrency, batch_size)

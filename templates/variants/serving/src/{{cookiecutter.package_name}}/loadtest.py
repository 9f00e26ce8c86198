"""A bounded HTTP load test: a fixed number of requests, latency percentiles, throughput.

Two ways to drive `/predict`, both writing a JSON file that the README cites:
- closed loop: a fixed pool of clients, each sending its next request when the
  last one is answered (the throughput the API sustains);
- open loop (`rate`): requests sent on a fixed schedule whatever the answers,
  each latency counted from when its request was due, so a stalled server shows
  up in the percentiles instead of silently slowing the test down.
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
    # Open loop only: the schedule's requests/s.
    target_rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    latencies_s: Sequence[float],
    errors: int,
    seconds: float,
    concurrency: int,
    batch_size: int,
    *,
    target_rate: float | None = None,
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
        target_rate=target_rate,
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


def send_offsets(requests: int, rate: float) -> list[float]:
    """Seconds after the start at which an open-loop test sends each request."""
    if requests < 1 or rate <= 0:
        raise ValueError("an open-loop test needs at least 1 request and a rate above 0")
    return [i / rate for i in range(requests)]


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> bool:
    """True when the request failed (transport error or any status but 200)."""
    try:
        response = await client.post("/predict", json=body)
    except httpx.HTTPError:
        return True
    return response.status_code != 200


async def run_open_loop(
    client: httpx.AsyncClient, requests: int, rate: float, batch_size: int = 1
) -> LoadTestResult:
    """Send `requests` POSTs at `rate` per second, never waiting for answers."""
    offsets = send_offsets(requests, rate)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    bodies = payloads(requests, batch_size)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0

    async def one(body: dict[str, Any], offset: float) -> None:
        nonlocal errors
        due = started + offset
        await asyncio.sleep(max(0.0, due - loop.time()))
        # Awaited before the `+=`: `errors += await ...` would read errors first
        # and lose the updates of requests that finish in between.
        failed = await _post(client, body)
        latencies.append(loop.time() - due)
        errors += failed

    started = loop.time()
    await asyncio.gather(*(one(body, offset) for body, offset in zip(bodies, offsets, strict=True)))
    seconds = loop.time() - started
    return summarize(latencies, errors, seconds, 0, batch_size, target_rate=rate)


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
            failed = await _post(client, body)
            latencies.append(time.perf_counter() - started)
            errors += failed

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return summarize(latencies, errors, time.perf_counter() - started, concurrency, batch_size)

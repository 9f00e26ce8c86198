import asyncio

import httpx
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import registry
from {{ cookiecutter.package_name }}.api import create_app
from {{ cookiecutter.package_name }}.loadtest import (
    payloads,
    run,
    run_open_loop,
    send_offsets,
    summarize,
)
from {{ cookiecutter.package_name }}.schema import Batch, Customer
from {{ cookiecutter.package_name }}.settings import Settings

from variant_fixtures import fake_model


def test_percentiles_are_ordered_and_in_milliseconds() -> None:
    result = summarize([0.001] * 90 + [0.010] * 9 + [0.100], 1, 2.0, 4, 1)

    assert result.p50_ms == 1.0
    assert result.p50_ms <= result.p95_ms <= result.p99_ms <= 100.0
    assert result.requests_per_second == 50.0
    assert result.errors == 1


def test_summary_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one request"):
        summarize([], 0, 1.0, 1, 1)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_generated_payloads_pass_the_api_schema(batch_size: int) -> None:
    bodies = payloads(4, batch_size)

    assert len(bodies) == 4
    model = Customer if batch_size == 1 else Batch
    for body in bodies:
        model.model_validate(body)


@pytest.mark.anyio
async def test_bounded_run_against_the_app_has_no_errors(accounts: pd.DataFrame) -> None:
    from asgi_lifespan import LifespanManager

    def loader(_uri: str) -> registry.LoadedModel:
        return fake_model(accounts)

    app = create_app(Settings(), loader=loader)
    async with LifespanManager(app):
        await app.state.host.loading
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            result = await run(client, requests=40, concurrency=4, batch_size=2)

    assert result.requests == 40
    assert result.errors == 0
    assert result.predictions_per_second == pytest.approx(2 * result.requests_per_second, rel=0.01)


@pytest.mark.anyio
async def test_invalid_run_parameters_are_refused() -> None:
    async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as client:
        with pytest.raises(ValueError, match="at least 1"):
            await run(client, requests=0, concurrency=1)


def test_open_loop_sends_on_a_fixed_schedule() -> None:
    assert send_offsets(4, 20.0) == pytest.approx([0.0, 0.05, 0.10, 0.15])
    with pytest.raises(ValueError, match="rate above 0"):
        send_offsets(4, 0.0)


@pytest.mark.anyio
async def test_open_loop_latency_counts_the_queue_behind_a_stalled_server() -> None:
    # A server that answers one request at a time, 50 ms each, and fails every 5th:
    # 10 requests due within 90 ms finish after at least 500 ms, so the late ones
    # waited about 400 ms. A closed loop of one client would report 50 ms each.
    one_at_a_time = asyncio.Lock()
    answered = 0

    async def handler(_: httpx.Request) -> httpx.Response:
        nonlocal answered
        async with one_at_a_time:
            await asyncio.sleep(0.05)
            answered += 1
            return httpx.Response(503 if answered % 5 == 0 else 200)

    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        result = await run_open_loop(client, requests=10, rate=100.0)

    assert result.requests == 10
    assert result.errors == 2
    assert result.target_rate == 100.0
    assert result.p99_ms > 300
    assert result.p50_ms < result.p99_ms

import json
import time
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.api import create_app
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.corpus import load_queries
from {{ cookiecutter.package_name }}.loadtest import run
from {{ cookiecutter.package_name }}.pipeline import Engine
from {{ cookiecutter.package_name }}.platform.host import ModelHost
from {{ cookiecutter.package_name }}.report import LoadTest

from variant_fixtures import HANDBOOK, Indexed, free_port

pytestmark = pytest.mark.anyio


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the app and keeps each body."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.bodies: list[dict[str, object]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(await request.aread()))
        return await self.inner.handle_async_request(request)


async def test_the_load_test_sends_every_question_and_times_the_real_api(
    indexed: Indexed,
) -> None:
    api = create_app(indexed.settings, loader=lambda _: indexed.engine)
    questions = list(load_queries(HANDBOOK).values())[:3]

    async with LifespanManager(api):
        host: ModelHost[Engine] = api.state.host
        assert host.loading is not None
        await host.loading
        transport = Recording(httpx.ASGITransport(app=api))
        result = await run(
            "http://test/query",
            questions,
            requests=7,
            concurrency=2,
            retriever="bm25",
            transport=transport,
        )

    assert (result.requests, result.errors) == (7, 0)
    sent = sorted(str(body["question"]) for body in transport.bodies)
    assert sent == sorted([*questions, *questions, questions[0]])
    assert {body["retriever"] for body in transport.bodies} == {"bm25"}
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms
    assert result.requests_per_second > 0
    # The report reads exactly what the load test writes.
    assert LoadTest.model_validate(result.as_dict()).requests == 7


async def test_refusals_count_as_errors_not_throughput() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        time.sleep(0.01)  # long enough that the rounded seconds stay exact to 1%
        refused = json.loads(request.content)["question"] == "busy"
        return httpx.Response(503 if refused else 200, json={})

    result = await run(
        "http://test/query",
        ["fine", "busy"],
        requests=10,
        concurrency=1,
        retriever="hybrid",
        transport=httpx.MockTransport(answer),
    )

    assert result.errors == 5
    assert result.requests_per_second == pytest.approx(5 / result.seconds, rel=0.02)


async def test_a_load_test_needs_questions() -> None:
    with pytest.raises(ValueError, match="at least one question"):
        await run("http://test/query", [], requests=1, concurrency=1, retriever="bm25")


def test_the_cli_load_test_without_a_running_api_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"http://127.0.0.1:{free_port()}/query"

    result = CliRunner().invoke(app, ["load-test", "--url", url])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: nothing answers at {url.removesuffix('/query')}/ready: "
        "start the API with `make serve`"
    ]
    assert not (tmp_path / "results").exists()

import asyncio
import socket
from itertools import cycle

import httpx
import pytest
from fastapi import FastAPI, Response

from {{ cookiecutter.package_name }}.platform import closed_loop as loop


def test_every_request_is_sent_and_each_answer_other_than_200_is_an_error() -> None:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict[str, int]) -> Response:
        return Response(status_code=200 if body["n"] % 3 else 503)

    seen: list[int] = []
    measured = asyncio.run(
        loop.closed_loop(
            "http://test/echo",
            ({"n": n} for n in cycle(range(6))),
            requests=12,
            concurrency=3,
            timeout=5,
            transport=httpx.ASGITransport(app=app),
            on_answer=lambda answer: seen.append(answer.status_code),
        )
    )

    assert measured.errors == 4  # n = 0 and 3, twice each
    assert seen == [200] * 8  # only answers that count are seen
    assert len(measured.latencies_ms) == 12
    assert measured.latencies_ms == sorted(measured.latencies_ms)
    assert measured.requests_per_second > 0


def test_percentile_is_a_value_that_was_observed() -> None:
    assert loop.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert loop.percentile([1.0, 2.0, 3.0, 4.0], 0.99) == 4.0
    assert loop.percentile([], 0.5) == 0.0


def test_a_load_test_stops_first_when_nothing_answers_or_the_api_is_not_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(loop.ApiNotReadyError, match="start the API with `make serve`"):
        loop.require_ready(f"http://127.0.0.1:{port}/query")

    asked: list[str] = []

    def loading(url: str, timeout: float) -> httpx.Response:
        asked.append(url)
        return httpx.Response(503, json={"detail": "index is loading"})

    monkeypatch.setattr(httpx, "get", loading)
    with pytest.raises(loop.ApiNotReadyError, match=r"answered 503: .*index is loading"):
        loop.require_ready("http://api:8000/query")
    assert asked == ["http://api:8000/ready"]

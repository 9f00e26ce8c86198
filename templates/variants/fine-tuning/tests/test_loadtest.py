import json
import socket

import httpx
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.loadtest import measure


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _api(refuse_every: int) -> httpx.MockTransport:
    """A /generate that answers 200, and 503 to every `refuse_every`-th request."""
    seen = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal seen
        seen += 1
        assert json.loads(request.content)["max_new_tokens"] == 8
        if seen % refuse_every == 0:
            return httpx.Response(503, json={"detail": "queue full"})
        return httpx.Response(200, json={"text": "billing", "model_version": "tiny+lora"})

    return httpx.MockTransport(answer)


@pytest.mark.anyio
async def test_a_load_test_sends_every_request_and_counts_the_refused() -> None:
    result = await measure(
        "http://api/generate",
        ["one", "two"],
        requests=20,
        concurrency=3,
        max_new_tokens=8,
        transport=_api(refuse_every=5),
    )

    assert (result.requests, result.errors, result.concurrency) == (20, 4, 3)
    assert result.requests_per_second > 0
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms
    assert result.model_version == "tiny+lora"


@pytest.mark.anyio
async def test_a_load_test_needs_a_prompt() -> None:
    with pytest.raises(ValueError, match="at least one prompt"):
        await measure("http://api/generate", [], requests=1, concurrency=1, max_new_tokens=8)


def test_load_test_without_a_running_api_says_to_start_it() -> None:
    url = f"http://127.0.0.1:{_free_port()}/generate"

    result = CliRunner().invoke(app, ["load-test", "--url", url])

    assert result.exit_code == 1
    assert "start the API with `make serve`" in result.output
    assert "Traceback" not in result.output

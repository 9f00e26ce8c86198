import threading
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.api import EngineSlot, create_app
from {{ cookiecutter.package_name }}.index import IndexNotFoundError
from {{ cookiecutter.package_name }}.pipeline import Engine
from {{ cookiecutter.package_name }}.settings import Settings

from variant_fixtures import FakeLLM, Indexed

pytestmark = pytest.mark.anyio

QUESTION = "How long can I still export my data after cancelling?"


async def _client(app: FastAPI, *, wait: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app):
        slot: EngineSlot = app.state.engine_slot
        assert slot.loading is not None
        if wait:
            await slot.loading
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def serving(indexed: Indexed, **overrides: object) -> Settings:
    return indexed.settings.model_copy(update=overrides)


@pytest.fixture
async def client(indexed: Indexed) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(serving(indexed), loader=lambda _: indexed.engine)
    async for c in _client(app):
        yield c


async def test_query_returns_ranked_chunks_with_sources_and_an_extractive_answer(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/query", json={"question": QUESTION, "top_k": 4})

    assert response.status_code == 200
    body = response.json()
    assert body["retriever"] == "hybrid"
    assert body["generator"] == "extractive"
    assert "[" in body["answer"]
    sources = body["sources"]
    assert [s["rank"] for s in sources] == [1, 2, 3, 4]
    assert [s["score"] for s in sources] == sorted((s["score"] for s in sources), reverse=True)
    assert {"kb-04", "kb-30"} & {s["doc_id"] for s in sources}
    first = sources[0]
    assert first["chunk_id"].startswith(first["doc_id"] + "#")
    assert first["heading_path"][0] == first["title"]
    assert first["end"] - first["start"] == len(first["text"])


async def test_query_can_pick_a_retriever_and_skip_the_answer(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/query", json={"question": "API rate limit 429", "retriever": "bm25", "answer": False}
    )

    body = response.json()
    assert body["retriever"] == "bm25"
    assert body["answer"] is None
    assert body["sources"][0]["doc_id"] == "kb-24"


@pytest.mark.parametrize(
    "payload",
    [{"question": ""}, {"question": "x", "top_k": 0}, {"question": "x", "retriever": "magic"}, {}],
)
async def test_invalid_queries_are_422(client: httpx.AsyncClient, payload: object) -> None:
    response = await client.post("/query", json=payload)

    assert response.status_code == 422


async def test_metrics_count_queries_and_record_top_scores(client: httpx.AsyncClient) -> None:
    await client.post("/query", json={"question": QUESTION})
    await client.post("/query", json={"question": "zzzz qqqq", "retriever": "bm25"})

    text = (await client.get("/metrics")).text

    assert 'http_requests_total{method="POST",route="/query",status="200"} 2.0' in text
    assert 'retrieval_top_score_count{retriever="hybrid"} 1.0' in text
    assert 'retrieval_empty_total{retriever="bm25"} 1.0' in text
    assert 'answers_total{generator="extractive"} 2.0' in text


async def test_ready_is_503_until_the_index_loads(indexed: Indexed) -> None:
    loaded = threading.Event()

    def blocking_loader(_: Settings) -> Engine:
        loaded.wait(timeout=10)
        return indexed.engine

    app = create_app(serving(indexed), loader=blocking_loader)
    async for client in _client(app, wait=False):
        before = await client.get("/ready")
        early = await client.post("/query", json={"question": QUESTION})
        loaded.set()
        slot: EngineSlot = app.state.engine_slot
        assert slot.loading is not None
        await slot.loading
        after = await client.get("/ready")

    assert before.status_code == 503
    assert early.status_code == 503
    assert after.status_code == 200
    assert after.json()["model_version"].startswith("hashing/headings/")


async def test_a_missing_index_keeps_ready_at_503_with_the_reason(indexed: Indexed) -> None:
    def missing(_: Settings) -> Engine:
        raise IndexNotFoundError("no index at index: run `make ingest` first")

    app = create_app(serving(indexed), loader=missing)
    async for client in _client(app):
        ready = await client.get("/ready")
        health = await client.get("/health")

    assert health.status_code == 200
    assert ready.status_code == 503
    assert "make ingest" in ready.json()["reason"]


async def test_configured_llm_writes_the_answer(indexed: Indexed, fake_llm: FakeLLM) -> None:
    settings = serving(indexed, llm_base_url=fake_llm.base_url, llm_model="ok")
    app = create_app(settings, loader=lambda _: indexed.engine)
    async for client in _client(app):
        body = (await client.post("/query", json={"question": QUESTION})).json()

    assert body["generator"] == "llm:ok"
    assert body["answer"] == "Workspaces stay read-only for 90 days [1]."
    assert body["sources"]


async def test_a_failing_llm_falls_back_to_the_extractive_answer(
    indexed: Indexed, fake_llm: FakeLLM
) -> None:
    settings = serving(indexed, llm_base_url=fake_llm.base_url, llm_model="broken")
    app = create_app(settings, loader=lambda _: indexed.engine)
    async for client in _client(app):
        response = await client.post("/query", json={"question": QUESTION})

    assert response.status_code == 200
    assert response.json()["generator"] == "extractive"

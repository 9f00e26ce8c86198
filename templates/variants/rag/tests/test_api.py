import asyncio
import dataclasses
import functools
import json
import re
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.answer import ABSTAINED, LLMClient
from {{ cookiecutter.package_name }}.api import create_app
from {{ cookiecutter.package_name }}.calibration import Calibration
from {{ cookiecutter.package_name }}.corpus import load_documents
from {{ cookiecutter.package_name }}.embeddings import HashingEmbedder
from {{ cookiecutter.package_name }}.index import IndexNotFoundError, ScoredChunk
from {{ cookiecutter.package_name }}.pipeline import Engine, build_index
from {{ cookiecutter.package_name }}.platform.host import ModelHost
from {{ cookiecutter.package_name }}.retrieval import (
    Fusion,
    Retriever,
    build_retrievers,
)
from {{ cookiecutter.package_name }}.settings import Settings

from variant_fixtures import HANDBOOK, FakeLLM, Indexed

pytestmark = pytest.mark.anyio

QUESTION = "How long can I still export my data after cancelling?"


async def _client(app: FastAPI, *, wait: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app):
        host: ModelHost[Engine] = app.state.host
        assert host.loading is not None
        if wait:
            await host.loading
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
        host: ModelHost[Engine] = app.state.host
        assert host.loading is not None
        await host.loading
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


async def test_a_corrupt_index_keeps_ready_at_503_naming_the_file(
    indexed: Indexed, tmp_path: Path
) -> None:
    copy = tmp_path / "index"
    shutil.copytree(indexed.settings.index_dir, copy)
    vectors = copy / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:1000])

    app = create_app(serving(indexed, index_dir=copy))  # the real loader
    async for client in _client(app):
        ready = await client.get("/ready")
        query = await client.post("/query", json={"question": QUESTION})

    assert ready.status_code == 503
    assert "vectors.npy" in ready.json()["reason"]
    assert "make ingest" in ready.json()["reason"]
    assert query.status_code == 503


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


async def test_shutting_down_closes_the_llm_client(
    indexed: Indexed, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []
    close = LLMClient.aclose

    async def recording_close(self: LLMClient) -> None:
        closed.append(True)
        await close(self)

    monkeypatch.setattr(LLMClient, "aclose", recording_close)
    settings = serving(indexed, llm_base_url=fake_llm.base_url, llm_model="ok")
    app = create_app(settings, loader=lambda _: indexed.engine)
    async for client in _client(app):
        await client.post("/query", json={"question": QUESTION})
        assert closed == []

    assert closed == [True]


async def test_a_question_over_the_limit_is_422_naming_the_limit(indexed: Indexed) -> None:
    app = create_app(serving(indexed, max_question_chars=40), loader=lambda _: indexed.engine)
    async for client in _client(app):
        at_limit = await client.post("/query", json={"question": "x" * 40})
        over = await client.post("/query", json={"question": "x" * 41})

    assert at_limit.status_code == 200
    assert over.status_code == 422
    error = over.json()["detail"][0]
    assert error["loc"] == ["body", "question"]
    assert error["msg"] == "question has 41 characters; the limit is MAX_QUESTION_CHARS=40"
    assert "x" * 41 not in over.text  # the refused question is not echoed back


async def test_the_default_limit_is_2000_characters(client: httpx.AsyncClient) -> None:
    response = await client.post("/query", json={"question": "refund " * 400})

    assert response.status_code == 422
    assert "MAX_QUESTION_CHARS=2,000" in response.json()["detail"][0]["msg"]


async def test_a_lone_surrogate_echoed_in_a_422_is_escaped_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    # Valid JSON (an escaped UTF-16 half) that has no UTF-8 encoding once decoded.
    body = b'{"question": ["\\ud800"], "top_k": "\\udfff"}'

    response = await client.post(
        "/query", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert "\\ud800" in response.text
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
        ("body", "question"),
        ("body", "top_k"),
    }


# --- Fuzzing POST /query: whatever the body, the answer is 200 or 422, never a 5xx ---

LIMIT = 300  # MAX_QUESTION_CHARS for the fuzzed app: small, so oversized questions are cheap
# Control and format characters, lone surrogates (valid as JSON escapes, not as UTF-8)
# and any other code point. st.text() never draws surrogates, hence lists joined.
CHARACTERS = (
    st.characters(categories=["Cc", "Cf", "Zl", "Zp"])
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
    | st.characters()
)
TEXT = st.lists(CHARACTERS, max_size=30).map("".join)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
# Up to three times the limit, built by repetition so long strings cost nothing to draw.
LONG_TEXT = st.builds(
    lambda piece, n: (piece * n)[:n], TEXT.filter(bool), st.integers(1, 3 * LIMIT)
)
QUESTIONS = TEXT | LONG_TEXT | st.sampled_from(["How do I rotate an API key?", "", " ", "\x00"])
QUERY_SHAPED = st.fixed_dictionaries(
    {"question": QUESTIONS | JSON_VALUES},
    optional={
        "top_k": st.integers(-5, 60) | st.integers() | JSON_VALUES,
        "retriever": st.sampled_from(["bm25", "dense", "hybrid"]) | JSON_VALUES,
        "answer": st.booleans() | JSON_VALUES,
    },
)
# Valid queries with hostile text reach retrieval and the answer composer.
VALID_QUERY = st.fixed_dictionaries(
    {"question": st.text(CHARACTERS, min_size=1, max_size=LIMIT)},  # text(): no surrogates
    optional={
        "top_k": st.integers(1, 50),
        "retriever": st.sampled_from(["bm25", "dense", "hybrid"]),
        "answer": st.booleans(),
    },
)
BODIES = VALID_QUERY | QUERY_SHAPED | JSON_VALUES


@functools.cache
def hashing_engine() -> Engine:
    """The handbook indexed in memory with the hashing embedder, once per session."""
    settings = Settings.model_validate({"embedding_model": "hashing", "corpus_path": HANDBOOK})
    embedder = HashingEmbedder()
    index, manifest = build_index(settings, load_documents(HANDBOOK), embedder)
    retrievers = build_retrievers(index.chunks, index, embedder)
    return Engine(manifest, retrievers, index.chunks, embedder)


def app_serving(engine: Engine) -> FastAPI:
    """An app with the engine in place: no lifespan, no loading, no disk."""
    settings = Settings.model_validate({"embedding_model": "hashing", "max_question_chars": LIMIT})
    app = create_app(settings, loader=lambda _: engine)
    app.state.host.model = engine
    return app


@functools.cache
def real_app() -> FastAPI:
    return app_serving(hashing_engine())


def post_raw(app: FastAPI, body: object) -> tuple[int, Any]:
    """POST the body as a client would send it; escaped JSON keeps lone surrogates intact."""

    async def post() -> tuple[int, Any]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/query",
                content=json.dumps(body).encode(),
                headers={"content-type": "application/json"},
            )
            return response.status_code, response.json()

    return asyncio.run(post())


def is_unicode(text: str) -> bool:
    """False for strings with lone surrogates, which the API refuses as invalid text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Unicode White_Space, what the schema's pattern `\S` (JSON Schema, and pydantic's Rust
# regex) treats as blank; Python's str.isspace also counts \x1c-\x1f.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)


def valid_query(body: object) -> bool:
    """Whether the body is a query the API must answer (by the documented contract)."""
    if not isinstance(body, dict) or not isinstance(body.get("question"), str):
        return False
    top_k = body.get("top_k", 5)
    return (
        0 < len(body["question"]) <= LIMIT
        and body["question"].strip(WHITE_SPACE) != ""
        and set(body) <= {"question", "top_k", "retriever", "answer"}
        and is_unicode(body["question"])
        and type(top_k) is int
        and 1 <= top_k <= 50
        and body.get("retriever", "hybrid") in ("bm25", "dense", "hybrid")
        and type(body.get("answer", True)) is bool
    )


def never_5xx(app: Callable[[], FastAPI], examples: int) -> Callable[[], None]:
    """The property, as a test to run against any app: the real one or a mutant."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same bodies every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(body=BODIES)
    def check(body: object) -> None:
        status, answer = post_raw(app(), body)
        event(f"HTTP {status}")  # --hypothesis-show-statistics: how many bodies got through

        assert status in {200, 422}, (status, answer)
        if valid_query(body):
            assert status == 200, answer
        if status == 422:
            assert answer["detail"]
            return
        # 200 only for a body the published contract accepts: strict types, no extras.
        assert valid_query(body), body
        assert isinstance(body, dict)
        assert len(answer["sources"]) <= int(body.get("top_k", 5))
        assert isinstance(answer["answered"], bool)

    return check


@settings(max_examples=50, deadline=None, database=None, derandomize=True)
@given(
    question=LONG_TEXT.filter(lambda text: len(text) > LIMIT and is_unicode(text)),
    top_k=st.integers(1, 50),
)
def test_any_question_over_the_limit_is_422_naming_it(question: str, top_k: int) -> None:
    status, answer = post_raw(real_app(), {"question": question, "top_k": top_k})

    assert status == 422
    assert answer["detail"][0]["msg"].endswith(f"the limit is MAX_QUESTION_CHARS={LIMIT}")


def test_no_request_body_makes_query_answer_5xx() -> None:
    never_5xx(real_app, examples=300)()


class FailsOnDeepSearches:
    """A mutant retriever: breaks when asked for more than 10 chunks."""

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        if k > 10:
            raise IndexError(f"k={k}")
        return self.inner.search(query, k)


def mutant_with_default_422() -> FastAPI:
    """The real app with FastAPI's own 422 handler back: it cannot encode lone surrogates."""
    app = app_serving(hashing_engine())
    app.exception_handlers[RequestValidationError] = request_validation_exception_handler
    return app


def mutant_failing_on_deep_searches() -> FastAPI:
    engine = hashing_engine()
    broken = {name: FailsOnDeepSearches(r) for name, r in engine.retrievers.items()}
    return app_serving(Engine(engine.manifest, broken, engine.chunks, engine.embedder))


@pytest.mark.parametrize("mutant", [mutant_with_default_422, mutant_failing_on_deep_searches])
def test_the_fuzzer_catches_a_broken_api(mutant: Callable[[], FastAPI]) -> None:
    """The property can fail: each mutant answers 500 to some body the fuzzer draws."""
    with pytest.raises(AssertionError, match="500"):
        never_5xx(functools.cache(mutant), examples=300)()


async def test_nan_vectors_keep_ready_at_503_with_a_reason_without_absolute_paths(
    indexed: Indexed, tmp_path: Path
) -> None:
    """Before: NaN vectors loaded as "ready" and every answer ranked nonsense."""
    copy = tmp_path / "index"
    shutil.copytree(indexed.settings.index_dir, copy)
    vectors = np.load(copy / "vectors.npy")
    vectors[3, 7] = np.nan
    np.save(copy / "vectors.npy", vectors)

    app = create_app(serving(indexed, index_dir=copy))  # the real loader
    async for client in _client(app):
        ready = await client.get("/ready")

    reason = ready.json()["reason"]
    assert ready.status_code == 503
    assert "vectors.npy holds non-finite values" in reason
    assert "make ingest" in reason
    assert str(tmp_path) not in reason
    assert not re.search(r"(^|\s)/\w", reason), reason


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": "refund", "topk": 1}, "topk"),
        ({"question": "   \n\t "}, "question"),
        ({"question": "refund", "top_k": "3"}, "top_k"),
        ({"question": "refund", "answer": 0}, "answer"),
    ],
)
async def test_the_contract_is_strict_and_each_422_names_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    """Before: unknown fields were ignored, blank questions answered, "3" taken for 3."""
    response = await client.post("/query", json=body)

    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


async def test_thousands_of_unknown_fields_get_one_error_naming_the_first(
    client: httpx.AsyncClient,
) -> None:
    """Before: one error per field, 30,000 of them built (~100 ms of the event loop) for
    each such body, so 5 a second pushed legitimate p50 from 5 ms to 190 ms."""
    body = {"question": "refund", **{f"field_{i}": i for i in range(30_000)}}

    response = await client.post("/query", json=body)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    message = error["msg"]
    assert "30,001 fields; a query has at most 4 (question, top_k, retriever, answer)" in message
    assert "unknown: 'field_0', 'field_1', 'field_2', ..." in message


async def test_the_published_schema_carries_the_question_limit(indexed: Indexed) -> None:
    app = create_app(serving(indexed, max_question_chars=321), loader=lambda _: indexed.engine)
    async for client in _client(app):
        schema = (await client.get("/openapi.json")).json()

    request = schema["components"]["schemas"]["QueryRequest"]
    assert request["properties"]["question"]["maxLength"] == 321
    assert request["properties"]["question"]["pattern"] == r"\S"
    assert request["additionalProperties"] is False
    assert "answered" in schema["components"]["schemas"]["QueryResponse"]["required"]


async def test_an_out_of_scope_question_is_declined_with_the_closest_sources(
    indexed: Indexed,
) -> None:
    engine = dataclasses.replace(
        indexed.engine,
        calibration=Calibration("hashing", "", "headings", Fusion(), abstain_below=0.99),
    )
    app = create_app(serving(indexed), loader=lambda _: engine)
    async for client in _client(app):
        declined = (await client.post("/query", json={"question": "Capital of France?"})).json()
        metrics = (await client.get("/metrics")).text

    assert declined["answered"] is False
    assert declined["answer"] == ABSTAINED
    assert declined["generator"] is None
    assert len(declined["sources"]) == 5
    assert "abstentions_total 1.0" in metrics


async def test_without_a_threshold_every_question_is_answered(client: httpx.AsyncClient) -> None:
    body = (await client.post("/query", json={"question": "Capital of France?"})).json()

    assert body["answered"] is True
    assert body["generator"] == "extractive"

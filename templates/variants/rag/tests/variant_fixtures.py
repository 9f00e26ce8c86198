"""Fixtures of the rag variant: the bundled handbook, a hashing-embedder index built
once per session, and a fake OpenAI-compatible server on loopback."""

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from {{ cookiecutter.package_name }}.chunking import Chunk
from {{ cookiecutter.package_name }}.corpus import Document, load_documents
from {{ cookiecutter.package_name }}.embeddings import HashingEmbedder
from {{ cookiecutter.package_name }}.index import ScoredChunk
from {{ cookiecutter.package_name }}.pipeline import Engine, ingest, load_engine
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

HANDBOOK = Path(__file__).resolve().parents[1] / "data" / "handbook"
PROJECT_README = Path(__file__).resolve().parents[1] / "README.md"


def rag_settings(workdir: Path, **overrides: object) -> Settings:
    """Settings that use the hashing embedder and keep every output inside `workdir`."""
    values: dict[str, object] = {
        "corpus_path": HANDBOOK,
        "embedding_model": "hashing",
        "index_dir": workdir / "index",
        "results_dir": workdir / "results",
        "mlflow_tracking_uri": f"sqlite:///{workdir / 'mlflow.db'}",
        # No disk cache unless a test asks for one: each test sees its own embeddings.
        "embedding_cache_dir": None,
        **overrides,
    }
    return Settings.model_validate(values)


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def handbook() -> list[Document]:
    return load_documents(HANDBOOK)


@dataclass(frozen=True)
class Indexed:
    settings: Settings
    engine: Engine


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    """The handbook ingested once with the hashing embedder; tests only read it."""
    settings = rag_settings(tmp_path_factory.mktemp("indexed"))
    ingest(settings, HashingEmbedder())
    return Indexed(settings, load_engine(settings))


def chunk(doc_id: str, number: int = 0, text: str = "text") -> Chunk:
    return Chunk(f"{doc_id}#{number}", doc_id, doc_id.title(), text, 0, len(text), ())


def hit(doc_id: str, score: float, number: int = 0) -> ScoredChunk:
    return ScoredChunk(chunk(doc_id, number), score)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class FakeLLM:
    """An OpenAI-compatible chat endpoint; the requested model picks its behaviour."""

    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def fake_llm_app(record: FakeLLM) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> JSONResponse:
        body = await request.json()
        record.requests.append(body)
        record.headers.append(dict(request.headers))
        if body["model"] == "broken":
            return JSONResponse({"error": "overloaded"}, status_code=503)
        if body["model"] == "garbage":
            return JSONResponse({"unexpected": True})
        answer = "Workspaces stay read-only for 90 days [1]."
        return JSONResponse({"choices": [{"message": {"role": "assistant", "content": answer}}]})

    return app


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    port = free_port()
    record = FakeLLM(base_url=f"http://127.0.0.1:{port}/v1")
    config = uvicorn.Config(fake_llm_app(record), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the fake LLM server did not start"
    yield record
    server.should_exit = True
    thread.join(timeout=10)

"""The question-answering API: `POST /query` over the index, plus the shared probes.

Served by `uvicorn <package>.api:create_app --factory` (see `cli.serve`). The index and
the embedding model load in the background after start-up, so `/health` answers at
once and `/ready` turns 200 only when queries can be served.
"""

import asyncio
import functools
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram

from . import __version__
from .answer import ABSTAINED, EXTRACTIVE, Answer, LLMClient, LLMError, extractive_answer
from .corpus import CorpusError
from .index import IndexNotFoundError, ScoredChunk
from .pipeline import Engine, load_engine
from .platform.config import PROJECT
from .platform.host import ModelHost, with_limits
from .platform.service import api_app, instrument
from .schema import QueryRequest, QueryResponse, sources
from .settings import Settings, get_settings

logger = logging.getLogger(__name__)

EngineLoader = Callable[[Settings], Engine]


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/[^\s'\"(),:;`]+")


def public_reason(reason: str) -> str:
    """A /ready reason without this machine's absolute paths: relative to the working
    folder where they lie under it, else the file name alone."""

    def shorten(match: re.Match[str]) -> str:
        path = Path(match.group())
        try:
            return path.relative_to(Path.cwd()).as_posix() or "."
        except ValueError:
            return path.name or "/"

    return _ABSOLUTE_PATH.sub(shorten, reason)


class QueryMetrics:
    """The retrieval metrics /metrics shows next to the shared HTTP ones."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.top_score = Histogram(
            "retrieval_top_score",
            "Score of the best chunk per query, by retriever.",
            ["retriever"],
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1, 2, 5, 10, 20),
            registry=registry,
        )
        self.empty = Counter(
            "retrieval_empty_total",
            "Queries that found no chunk.",
            ["retriever"],
            registry=registry,
        )
        self.answers = Counter(
            "answers_total", "Answers by generator.", ["generator"], registry=registry
        )
        self.abstained = Counter(
            "abstentions_total", "Questions the documents did not answer.", registry=registry
        )

    def observe(self, retriever: str, hits: list[ScoredChunk]) -> None:
        if hits:
            self.top_score.labels(retriever).observe(hits[0].score)
        else:
            self.empty.labels(retriever).inc()


def engine_version(engine: Engine) -> str:
    """What /ready reports: the embedding model, the chunking and the chunk count."""
    manifest = engine.manifest
    return f"{manifest.embedding_model}/{manifest.chunking}/{manifest.chunks}"


def create_app(settings: Settings | None = None, loader: EngineLoader = load_engine) -> FastAPI:
    """Build the app; `loader` is injectable so tests need no model download."""
    settings = settings or get_settings()
    host = ModelHost(
        functools.partial(loader, settings),
        engine_version,
        unavailable=(IndexNotFoundError, CorpusError, ValueError, OSError),
        reason=lambda error: public_reason(str(error)),
        loading="index is loading",
    )
    llm: LLMClient | None = None
    if settings.llm_base_url:
        llm = LLMClient(
            settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s
        )
    metrics = QueryMetrics(host.state.metrics.registry)

    async def close_llm() -> None:
        if llm is not None:
            await llm.aclose()

    app = api_app(PROJECT, __version__, host.lifespan(settings.log_level, on_shutdown=close_llm))
    app.state.host = host
    instrument(app, host.state, settings)

    async def query(
        body: QueryRequest, engine: Annotated[Engine, Depends(host.require)]
    ) -> QueryResponse:
        """Ranked chunks with their sources and scores, and an answer citing them, or
        `answered: false` with the closest sources when the documents do not answer."""
        name = body.retriever or settings.retriever
        # Embedding the query takes milliseconds of CPU; keep it off the event loop.
        hits, answered = await asyncio.to_thread(engine.search, name, body.question, body.top_k)
        metrics.observe(name, hits)
        answer: Answer | None = None
        if not answered:
            metrics.abstained.inc()
            answer = Answer(ABSTAINED, "") if body.answer else None
        elif body.answer:
            answer = extractive_answer(body.question, hits)
            if llm is not None and hits:
                try:
                    answer = await llm.answer(body.question, hits)
                except LLMError as exc:
                    logger.warning("llm failed, answering extractively", extra={"error": str(exc)})
            metrics.answers.labels(answer.generator).inc()
        return QueryResponse(
            answered=answered,
            answer=answer.text if answer else None,
            generator=(answer.generator or None) if answer else None,
            retriever=name,
            sources=sources(hits),
        )

    # FastAPI reads the request model from the annotation, and the one carrying this
    # server's limit exists only now (a subclass: still a QueryRequest to the code above).
    limit = settings.max_question_chars
    query.__annotations__["body"] = with_limits(
        QueryRequest,
        question={
            "max_length": limit,
            "description": f"At most MAX_QUESTION_CHARS={limit} characters, not blank.",
        },
    )
    app.post(
        "/query",
        response_model=QueryResponse,
        responses={503: {"description": "Index not loaded"}},
        tags=["retrieval"],
    )(query)
    return app


__all__ = ["EXTRACTIVE", "QueryRequest", "QueryResponse", "create_app"]

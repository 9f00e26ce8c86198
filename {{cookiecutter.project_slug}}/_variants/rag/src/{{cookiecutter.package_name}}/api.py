"""The question-answering API: `POST /query` over the index, plus the shared probes.

Served by `uvicorn <package>.api:create_app --factory` (see `cli.serve`). The index and
the embedding model load in the background after start-up, so `/health` answers at
once and `/ready` turns 200 only when queries can be served.
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, status
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from . import __version__
from .answer import ABSTAINED, EXTRACTIVE, Answer, LLMClient, LLMError, extractive_answer
from .corpus import CorpusError
from .index import IndexNotFoundError, ScoredChunk
from .pipeline import Engine, load_engine
from .platform.config import PROJECT
from .platform.contract import JsonBool, JsonInt
from .platform.logs import configure_logging
from .platform.service import ServiceState, api_app, instrument
from .settings import RetrieverName, Settings, get_settings

logger = logging.getLogger(__name__)

EngineLoader = Callable[[Settings], Engine]


class QueryRequest(BaseModel):
    """The request contract; `bounded_request` adds this server's question limit to it.

    Exact: unknown fields, and values of another JSON type ("5" for 5, 0 for false),
    are refused with a 422 naming the field, exactly as the published schema says.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _bounded_fields(cls, data: Any) -> Any:
        """More fields than a query has: one error naming the first unknown ones, not one
        per field (listing 30,000 unknown fields took ~100 ms of the event loop)."""
        if isinstance(data, dict) and len(data) > len(cls.model_fields):
            unknown = islice((name for name in data if name not in cls.model_fields), 3)
            names = ", ".join(repr(str(name)[:40]) for name in unknown)
            raise ValueError(
                f"{len(data):,} fields; a query has at most {len(cls.model_fields)} "
                f"({', '.join(cls.model_fields)}); unknown: {names}, ..."
            )
        return data

    question: str = Field(
        min_length=1,
        pattern=r"\S",
        description="At most MAX_QUESTION_CHARS characters (default 2000), not blank.",
    )
    top_k: JsonInt = Field(default=5, ge=1, le=50)
    retriever: RetrieverName | None = Field(default=None, description="Default: RETRIEVER.")
    answer: JsonBool = Field(default=True, description="Also compose an answer from the sources.")


def bounded_request(max_question_chars: int) -> type[QueryRequest]:
    """`QueryRequest` whose published schema carries MAX_QUESTION_CHARS as maxLength.

    The limit itself is checked by `check_length`, whose 422 names the setting and
    never echoes an oversized question back.
    """
    return create_model(
        "QueryRequest",
        __base__=QueryRequest,
        question=(
            str,
            Field(
                min_length=1,
                pattern=r"\S",
                description=f"At most MAX_QUESTION_CHARS={max_question_chars} characters, "
                "not blank.",
                json_schema_extra={"maxLength": max_question_chars},
            ),
        ),
    )


class Source(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    heading_path: list[str]
    start: int
    end: int
    score: float
    text: str


class QueryResponse(BaseModel):
    answered: bool = Field(
        description="False when the best passage is too far from the question (the "
        "threshold `make evaluate` chose on dev questions): the documents do not answer it."
    )
    answer: str | None
    generator: str | None = Field(
        description="'extractive' or 'llm:<model>'; null when abstaining or not asked."
    )
    retriever: RetrieverName
    sources: list[Source]


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


def check_length(question: str, limit: int) -> None:
    """Refuse a question over MAX_QUESTION_CHARS with a 422 that does not echo it back."""
    if len(question) <= limit:
        return
    raise RequestValidationError(
        [
            {
                "type": "string_too_long",
                "loc": ("body", "question"),
                "msg": f"question has {len(question):,} characters; "
                f"the limit is MAX_QUESTION_CHARS={limit:,}",
                "ctx": {"max_length": limit},
            }
        ]
    )


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


def sources(hits: list[ScoredChunk]) -> list[Source]:
    return [
        Source(
            rank=rank,
            chunk_id=hit.chunk.chunk_id,
            doc_id=hit.chunk.doc_id,
            title=hit.chunk.title,
            heading_path=list(hit.chunk.heading_path),
            start=hit.chunk.start,
            end=hit.chunk.end,
            score=hit.score,
            text=hit.chunk.text,
        )
        for rank, hit in enumerate(hits, 1)
    ]


@dataclass
class EngineSlot:
    engine: Engine | None = None
    llm: LLMClient | None = None
    loading: asyncio.Task[None] | None = field(default=None, repr=False)


def create_app(settings: Settings | None = None, loader: EngineLoader = load_engine) -> FastAPI:
    """Build the app; `loader` is injectable so tests need no model download."""
    settings = settings or get_settings()
    state = ServiceState(not_ready_reason="index is loading")
    slot = EngineSlot()
    if settings.llm_base_url:
        slot.llm = LLMClient(
            settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s
        )
    metrics = QueryMetrics(state.metrics.registry)

    async def load() -> None:
        try:
            slot.engine = await asyncio.to_thread(loader, settings)
        except (IndexNotFoundError, CorpusError, ValueError, OSError) as exc:
            state.mark_failed(public_reason(str(exc)))
            logger.error("index not loaded", extra={"error": str(exc)})
            return
        manifest = slot.engine.manifest
        state.mark_ready(f"{manifest.embedding_model}/{manifest.chunking}/{manifest.chunks}")
        logger.info("index loaded", extra={"chunks": manifest.chunks})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        slot.loading = asyncio.create_task(load())
        yield
        slot.loading.cancel()
        if slot.llm is not None:
            await slot.llm.aclose()

    app = api_app(PROJECT, __version__, lifespan)
    app.state.engine_slot = slot
    instrument(app, state, settings)

    async def query(body: QueryRequest) -> QueryResponse:
        """Ranked chunks with their sources and scores, and an answer citing them, or
        `answered: false` with the closest sources when the documents do not answer."""
        check_length(body.question, settings.max_question_chars)
        engine = slot.engine
        if engine is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, state.not_ready_reason)
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
            if slot.llm is not None and hits:
                try:
                    answer = await slot.llm.answer(body.question, hits)
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

    # FastAPI takes the request model from the annotation: give it the one whose schema
    # carries this server's question limit (still a QueryRequest for the code above).
    query.__annotations__["body"] = bounded_request(settings.max_question_chars)
    app.post(
        "/query",
        response_model=QueryResponse,
        responses={503: {"description": "Index not loaded"}},
        tags=["retrieval"],
    )(query)

    return app


__all__ = ["EXTRACTIVE", "QueryRequest", "QueryResponse", "create_app"]

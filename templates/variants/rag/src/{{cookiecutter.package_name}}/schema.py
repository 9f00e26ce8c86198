"""The /query contract: what a client may send and what it gets back.

The question limit comes from settings (MAX_QUESTION_CHARS): `api.py` applies it with
`with_limits`, so each server publishes and enforces its own.
"""

from itertools import islice
from typing import Any

from annotated_types import MaxLen
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from .index import ScoredChunk
from .platform.contract import JsonBool, JsonInt
from .settings import RetrieverName


class QueryRequest(BaseModel):
    """The request contract; `with_limits` adds this server's question limit to it.

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

    @field_validator("question", mode="wrap")
    @classmethod
    def _within_limit(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Over the limit: a 422 naming the setting, without echoing the question back
        (and before the pattern scans all of it)."""
        limits = cls.model_fields["question"].metadata
        limit = next((item.max_length for item in limits if isinstance(item, MaxLen)), None)
        if limit is None or not isinstance(value, str) or len(value) <= limit:
            return handler(value)
        message = (
            f"question has {len(value):,} characters; the limit is MAX_QUESTION_CHARS={limit:,}"
        )
        error = PydanticCustomError("string_too_long", message, {"max_length": limit})
        # Raised as a ValidationError so that the error's input is the size, not the text.
        detail = InitErrorDetails(type=error, loc=(), input=f"{len(value):,} characters")
        raise ValidationError.from_exception_data(cls.__name__, [detail])


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


def sources(hits: list[ScoredChunk]) -> list[Source]:
    """The ranked chunks as the response lists them, best first from rank 1."""
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

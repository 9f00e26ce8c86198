"""RAG settings: the shared project settings plus one small class per concern.

`Settings` inherits them all, so every variable keeps its name; `make docs` groups
`.env.example` by the class that declares each setting (its docstring is the heading).
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from .platform.config import ProjectSettings

Chunking = Literal["fixed", "headings", "sentences"]
RetrieverName = Literal["bm25", "dense", "hybrid"]


class CorpusSettings(BaseModel):
    """Corpus and the folders ingest, evaluate and report read and write."""

    corpus_path: Path = Field(
        default=Path("data/handbook"),
        description="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv, optional "
        "out_of_scope.jsonl) or a folder of .md/.txt; `make <target> CORPUS=<folder>` sets "
        "it for one command.",
    )
    index_dir: Path = Field(
        default=Path("index"),
        description="Where `make ingest` writes the index (swapped in atomically) and "
        "`make evaluate` stores the fusion and abstention threshold it chose.",
    )
    embedding_cache_dir: Path | None = Field(
        default=Path(".cache/embeddings"),
        description="Embeddings kept by (model, text) so no text is embedded twice; "
        "empty: no cache.",
    )
    ingest_embeds_evaluation: bool = Field(
        default=True,
        description="`make ingest` also embeds the questions and the other chunkings into "
        "the embedding cache while its model is loaded, so `make evaluate` loads none.",
    )
    results_dir: Path = Field(
        default=Path("results"),
        description="Where evaluate and benchmark write the JSON, tables and plot that "
        "`make report` turns into the README.",
    )

    @field_validator("embedding_cache_dir", mode="before")
    @classmethod
    def _empty_means_no_cache(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class ChunkingSettings(BaseModel):
    """Embedding model and how documents are cut into chunks."""

    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        min_length=1,
        description="A sentence-transformers model name or path; 'hashing' for the test embedder.",
    )
    embedding_batch_size: int = Field(
        default=32, ge=1, le=4096, description="Texts per model call when embedding."
    )
    chunking: Chunking = Field(
        default="headings",
        description="How documents are cut: at Markdown headings, at sentence ends, or "
        "fixed windows.",
    )
    chunk_size: int = Field(default=800, ge=100, le=20_000, description="Characters per chunk.")
    chunk_overlap: int = Field(
        default=150,
        ge=0,
        le=5_000,
        description="Characters shared by neighbouring `fixed` chunks.",
    )


class RetrievalSettings(BaseModel):
    """Retrieval: which retriever, how deep, fused how, searched where."""

    retriever: RetrieverName = Field(
        default="hybrid",
        description="What /query and `make query` search with unless a request names "
        "another; hybrid fuses BM25 and dense as `make evaluate` chose on dev questions.",
    )
    top_k: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Sources `make query` prints; an API request sets its own `top_k` (default 5).",
    )
    candidate_depth: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Chunks each retriever contributes before fusion (and the depth "
        "evaluation ranks to).",
    )
    rrf_k: int = Field(
        default=60,
        ge=1,
        description="Reciprocal rank fusion's damping constant: higher flattens the "
        "weight of the top ranks.",
    )
    vector_store: Literal["numpy", "pgvector"] = Field(
        default="numpy",
        description="Where dense search runs: the in-process exact index, or Postgres "
        "with pgvector (PGVECTOR_DSN).",
    )
    pgvector_dsn: SecretStr | None = Field(
        default=None, description="postgresql://user:password@host:5432/db for pgvector."
    )
    pgvector_table: str = Field(
        default="chunks",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Table the pgvector store reads and `make ingest` replaces.",
    )
    pgvector_exact: bool = Field(
        default=False, description="Scan every row (exact top k) instead of the HNSW index."
    )


class AnswerSettings(BaseModel):
    """Answer generation: an OpenAI-compatible LLM, else extractive answers."""

    llm_base_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible API, e.g. http://localhost:11434/v1; unset: extractive.",
    )
    llm_model: str = Field(default="gpt-4o-mini", description="Model name sent to LLM_BASE_URL.")
    llm_api_key: SecretStr | None = Field(
        default=None, description="Bearer key for LLM_BASE_URL, if it needs one."
    )
    llm_timeout_s: float = Field(
        default=30.0,
        gt=0.0,
        description="Seconds to wait for the LLM before answering extractively instead.",
    )


class QueryLimits(BaseModel):
    """Limits on what one /query request may ask."""

    max_question_chars: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description="Longer questions get a 422: embedding and BM25 cost grow with length.",
    )


class QualityGates(BaseModel):
    """Evaluation: the dev/test split and the score `make evaluate` must reach."""

    min_ndcg_at_10: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="`make evaluate` fails when the configured pipeline scores below this "
        "nDCG@10 on the test questions.",
    )
    dev_fraction: float = Field(
        default=0.5,
        ge=0.1,
        le=0.9,
        description="Share of judged questions (seeded split) on which fusion and abstention "
        "are chosen; every reported figure is on the rest.",
    )
    seed: int = Field(
        default=42,
        description="Seed of the dev/test split, the bootstraps and the random baseline.",
    )


class Settings(
    QualityGates,
    QueryLimits,
    AnswerSettings,
    RetrievalSettings,
    ChunkingSettings,
    CorpusSettings,
    ProjectSettings,
):
    """Every value can be set by an environment variable of the same name.

    The bases are listed last concern first: fields (and `.env.example`) follow the
    reversed method resolution order, so the shared settings come first, then corpus.
    """


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read settings once per process."""
    return Settings()

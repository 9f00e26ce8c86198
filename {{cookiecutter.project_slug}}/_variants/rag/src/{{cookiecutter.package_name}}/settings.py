"""RAG settings: the shared project settings plus corpus, index, retrieval and LLM knobs."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from .config import ProjectSettings

Chunking = Literal["fixed", "headings", "sentences"]
RetrieverName = Literal["bm25", "dense", "hybrid"]


class Settings(ProjectSettings):
    """Every value can be set by an environment variable of the same name."""

    corpus_path: Path = Field(
        default=Path("data/handbook"),
        description="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a folder of .md/.txt.",
    )
    index_dir: Path = Path("index")
    embedding_cache_dir: Path | None = Field(
        default=Path(".cache/embeddings"),
        description="Embeddings kept by (model, text) so no text is embedded twice; "
        "empty: no cache.",
    )
    results_dir: Path = Path("results")
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        min_length=1,
        description="A sentence-transformers model name or path; 'hashing' for the test embedder.",
    )
    embedding_batch_size: int = Field(default=32, ge=1, le=4096)
    chunking: Chunking = "headings"
    chunk_size: int = Field(default=800, ge=100, le=20_000, description="Characters per chunk.")
    chunk_overlap: int = Field(default=150, ge=0, le=5_000)
    retriever: RetrieverName = "hybrid"
    top_k: int = Field(default=5, ge=1, le=100)
    # Longer questions are refused with 422: embedding and BM25 cost grows with length.
    max_question_chars: int = Field(default=2000, ge=1, le=100_000)
    # Chunks each retriever contributes before fusion, and RRF's damping constant.
    candidate_depth: int = Field(default=50, ge=1, le=1000)
    rrf_k: int = Field(default=60, ge=1)
    vector_store: Literal["numpy", "pgvector"] = "numpy"
    pgvector_dsn: SecretStr | None = Field(
        default=None, description="postgresql://user:password@host:5432/db for pgvector."
    )
    pgvector_table: str = Field(default="chunks", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    pgvector_exact: bool = Field(
        default=False, description="Scan every row (exact top k) instead of the HNSW index."
    )
    llm_base_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible API, e.g. http://localhost:11434/v1; unset: extractive.",
    )
    llm_model: str = "gpt-4o-mini"
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=30.0, gt=0.0)
    # `make evaluate` fails when the configured pipeline scores below this on the judgements.
    min_ndcg_at_10: float = Field(default=0.5, ge=0.0, le=1.0)
    # Share of judged questions (seeded split) on which fusion and abstention are
    # chosen; every reported figure is on the rest.
    dev_fraction: float = Field(default=0.5, ge=0.1, le=0.9)
    seed: int = 42

    @field_validator("embedding_cache_dir", mode="before")
    @classmethod
    def _empty_means_no_cache(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read settings once per process."""
    return Settings()

"""Ingest (documents to a saved index) and the search engine loaded from that index."""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .chunking import Chunk, chunk_documents
from .corpus import Document, load_documents
from .embeddings import Embedder, encode_batched, load_embedder
from .index import Manifest, NumpyIndex, VectorStore, load_index, save_index
from .retrieval import Retriever, build_retrievers
from .settings import Settings


@dataclass(frozen=True)
class IngestReport:
    index_dir: Path
    documents: int
    chunks: int
    seconds: float

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else float("inf")


def embed_chunks(
    chunks: list[Chunk], embedder: Embedder, batch_size: int, *, progress: bool = False
) -> NumpyIndex:
    texts = [chunk.search_text() for chunk in chunks]
    return NumpyIndex(chunks, encode_batched(embedder, texts, batch_size, progress=progress))


def build_index(
    settings: Settings,
    documents: list[Document],
    embedder: Embedder,
    chunking: str | None = None,
    *,
    progress: bool = False,
) -> tuple[NumpyIndex, Manifest]:
    strategy = chunking or settings.chunking
    chunks = chunk_documents(documents, strategy, settings.chunk_size, settings.chunk_overlap)
    index = embed_chunks(chunks, embedder, settings.embedding_batch_size, progress=progress)
    manifest = Manifest(
        embedding_model=embedder.name,
        dimension=embedder.dimension,
        chunking=strategy,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        documents=len(documents),
        chunks=len(chunks),
    )
    return index, manifest


def ingest(
    settings: Settings, embedder: Embedder | None = None, *, progress: bool = False
) -> IngestReport:
    """Read, chunk and embed the corpus, then write the index atomically."""
    started = time.perf_counter()
    documents = load_documents(settings.corpus_path)
    embedder = embedder or load_embedder(settings.embedding_model)
    index, manifest = build_index(settings, documents, embedder, progress=progress)
    save_index(settings.index_dir, index, manifest)
    elapsed = time.perf_counter() - started
    return IngestReport(settings.index_dir, len(documents), len(index.chunks), elapsed)


@dataclass
class Engine:
    """Everything a query needs, loaded once."""

    manifest: Manifest
    retrievers: Mapping[str, Retriever]
    chunks: list[Chunk]
    embedder: Embedder


def load_engine(
    settings: Settings,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
) -> Engine:
    """Load the index; the query embedder is the one the index was built with."""
    index, manifest = load_index(settings.index_dir)
    embedder = embedder or load_embedder(manifest.embedding_model)
    if embedder.name != manifest.embedding_model:
        raise ValueError(
            f"the index was built with {manifest.embedding_model!r}, not {embedder.name!r}; "
            "run `make ingest` again with the model you want to query with"
        )
    if store is None and settings.vector_store == "pgvector":  # pragma: no cover - needs a server
        from .pgvector import connect

        if settings.pgvector_dsn is None:
            raise ValueError("VECTOR_STORE=pgvector needs PGVECTOR_DSN")
        store = connect(settings.pgvector_dsn.get_secret_value(), settings.pgvector_table)
    retrievers = build_retrievers(
        index.chunks, store or index, embedder, settings.candidate_depth, settings.rrf_k
    )
    return Engine(manifest, retrievers, index.chunks, embedder)

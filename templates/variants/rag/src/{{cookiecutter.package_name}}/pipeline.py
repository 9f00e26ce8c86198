"""Ingest (documents to a saved index), the search engine loaded from that index, and
`query`, which answers one question from it."""

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .answer import ABSTAINED, extractive_answer
from .calibration import Calibration, load_calibration
from .chunking import STRATEGIES, Chunk, chunk_documents
from .corpus import (
    CorpusError,
    Document,
    corpus_sha256,
    load_documents,
    load_out_of_scope,
    load_qrels,
    load_queries,
)
from .embedding_cache import CachingEmbedder, caching_embedder
from .embeddings import Embedder, LazyEmbedder, encode_batched, load_embedder, progress_bar
from .index import (
    IndexNotFoundError,
    Manifest,
    NumpyIndex,
    ScoredChunk,
    VectorStore,
    load_index,
    remove_stale_staging,
    save_index,
)
from .retrieval import Fusion, Retriever, build_retrievers
from .settings import Settings

if TYPE_CHECKING:
    from .pgvector import PgVectorStore

logger = logging.getLogger(__name__)


class IndexMismatchError(IndexNotFoundError):
    """The index was built from other documents than CORPUS_PATH holds."""


@dataclass(frozen=True)
class IngestReport:
    """What `make ingest` did, and the lines it prints."""

    index_dir: Path
    documents: int
    chunks: int
    seconds: float
    chunking: str
    # Texts `make evaluate` will need, embedded into the cache while the model was loaded.
    evaluation_texts: int = 0
    evaluation_seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else float("inf")

    @property
    def summary(self) -> str:
        lines = [
            f"indexed {self.documents} documents as {self.chunks} {self.chunking} chunks in "
            f"{self.seconds:.1f} s ({self.chunks_per_second:.0f} chunks/s) -> {self.index_dir}"
        ]
        if self.evaluation_texts:
            lines.append(
                f"embedded {self.evaluation_texts} texts for make evaluate in "
                f"{self.evaluation_seconds:.1f} s (INGEST_EMBEDS_EVALUATION)"
            )
        return "\n".join(lines)


def embed_chunks(
    chunks: list[Chunk], embedder: Embedder, batch_size: int, *, progress: bool = False
) -> NumpyIndex:
    texts = [chunk.search_text() for chunk in chunks]
    return NumpyIndex(chunks, encode_batched(embedder, texts, batch_size, progress=progress))


def build_index(
    settings: Settings,
    documents: list[Document],
    embedder: Embedder | CachingEmbedder,
    chunking: str | None = None,
    *,
    progress: bool = False,
    corpus_hash: str = "",
) -> tuple[NumpyIndex, Manifest]:
    strategy = chunking or settings.chunking
    chunks = chunk_documents(documents, strategy, settings.chunk_size, settings.chunk_overlap)
    if isinstance(embedder, CachingEmbedder):
        texts = [chunk.search_text() for chunk in chunks]
        index = NumpyIndex(chunks, embedder.encode(texts, label=f"{strategy} chunks"))
    else:
        index = embed_chunks(chunks, embedder, settings.embedding_batch_size, progress=progress)
    manifest = Manifest(
        embedding_model=embedder.name,
        dimension=embedder.dimension,
        chunking=strategy,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        documents=len(documents),
        chunks=len(chunks),
        corpus_path=str(settings.corpus_path),
        corpus_sha256=corpus_hash,
    )
    return index, manifest


def cached_embedder(settings: Settings, embedder: Embedder | None = None) -> CachingEmbedder:
    """The configured model behind the on-disk embedding cache (EMBEDDING_CACHE_DIR)."""
    return caching_embedder(
        embedder or LazyEmbedder(settings.embedding_model),
        settings.embedding_cache_dir,
        settings.embedding_batch_size,
    )


def judged_questions(folder: Path) -> list[str]:
    """The questions `make evaluate` embeds: judged ones, then out-of-scope ones."""
    queries = load_queries(folder)
    judged = [queries[query_id] for query_id in sorted(load_qrels(folder)) if query_id in queries]
    return [*judged, *load_out_of_scope(folder).values()]


def evaluation_texts(settings: Settings, documents: list[Document]) -> list[str]:
    """What `make evaluate` embeds besides the ingested chunks: the corpus's questions and
    the other chunkings' chunks. Empty when the corpus has no judgements to evaluate."""
    folder = settings.corpus_path
    if not (folder / "queries.jsonl").is_file() or not (folder / "qrels" / "test.tsv").is_file():
        return []
    texts = judged_questions(folder)
    for strategy in STRATEGIES:
        if strategy != settings.chunking:
            chunks = chunk_documents(
                documents, strategy, settings.chunk_size, settings.chunk_overlap
            )
            texts.extend(chunk.search_text() for chunk in chunks)
    return texts


def ingest(
    settings: Settings, embedder: Embedder | None = None, *, progress: bool = False
) -> IngestReport:
    """Read, chunk and embed the corpus, then write the index atomically; with
    INGEST_EMBEDS_EVALUATION, also embed what `make evaluate` needs into the cache.
    `progress`: one bar over every text embedded (on a terminal).

    Refuses a corpus that yields no chunk: replacing a working index with an empty one
    would leave the API "ready" with nothing to answer from.
    """
    started = time.perf_counter()
    remove_stale_staging(settings.index_dir)
    documents = load_documents(settings.corpus_path)
    corpus_hash = corpus_sha256(settings.corpus_path)
    caching = cached_embedder(settings, embedder)
    chunks = chunk_documents(
        documents, settings.chunking, settings.chunk_size, settings.chunk_overlap
    )
    for_evaluation = _texts_for_evaluation(settings, documents)
    total = caching.missing([*(chunk.search_text() for chunk in chunks), *for_evaluation])
    with progress_bar(total, "ingest: embedding", "text", show=progress) as bar:
        caching.on_batch = bar.update
        index, manifest = build_index(settings, documents, caching, corpus_hash=corpus_hash)
        if not index.chunks:
            raise CorpusError(
                f"{settings.corpus_path} yields no chunks to index (only blank documents?): "
                "the previous index is kept"
            )
        save_index(settings.index_dir, index, manifest)
        if settings.vector_store == "pgvector":
            store = pgvector_store(settings)
            store.create(manifest.dimension)
            store.replace(index.chunks, index.vectors)
        elapsed = time.perf_counter() - started
        report = IngestReport(
            settings.index_dir, len(documents), len(index.chunks), elapsed, manifest.chunking
        )
        if not for_evaluation:
            return report
        # After the index is saved: the model is loaded now, and loading it again in
        # `make evaluate` costs more than these texts.
        started = time.perf_counter()
        before = caching.embedded
        caching.encode(for_evaluation, label="texts for make evaluate")
    return dataclasses.replace(
        report,
        evaluation_texts=caching.embedded - before,
        evaluation_seconds=time.perf_counter() - started,
    )


def _texts_for_evaluation(settings: Settings, documents: list[Document]) -> list[str]:
    """What ingest embeds for `make evaluate` (INGEST_EMBEDS_EVALUATION, with a cache)."""
    if not settings.ingest_embeds_evaluation or settings.embedding_cache_dir is None:
        return []
    try:
        return evaluation_texts(settings, documents)
    except CorpusError as exc:  # `make evaluate` reports it; the index is fine
        logger.warning("not embedding the evaluation's texts: %s", exc)
        return []


def check_corpus(settings: Settings, manifest: Manifest) -> None:
    """Refuse an index built from other documents than CORPUS_PATH holds. Where the
    corpus is absent (an image ships only the index) the index is taken as it is."""
    corpus = settings.corpus_path
    if not manifest.corpus_sha256 or not corpus.exists():
        return
    digest = corpus_sha256(corpus)
    if digest != manifest.corpus_sha256:
        raise IndexMismatchError(
            f"{settings.index_dir} was built from {manifest.corpus_path} "
            f"(sha256 {manifest.corpus_sha256[:12]}), not from CORPUS_PATH={corpus} "
            f"(sha256 {digest[:12]}): run `make ingest CORPUS={corpus}`"
        )


def pgvector_store(settings: Settings) -> "PgVectorStore":
    """The configured Postgres store (VECTOR_STORE=pgvector, PGVECTOR_DSN)."""
    from .pgvector import connect

    if settings.pgvector_dsn is None:
        raise ValueError("VECTOR_STORE=pgvector needs PGVECTOR_DSN (postgresql://...)")
    try:
        return connect(
            settings.pgvector_dsn.get_secret_value(),
            settings.pgvector_table,
            exact=settings.pgvector_exact,
        )
    except ImportError:
        raise ValueError("VECTOR_STORE=pgvector needs psycopg: uv sync --extra postgres") from None


@dataclass
class Engine:
    """Everything a query needs, loaded once."""

    manifest: Manifest
    retrievers: Mapping[str, Retriever]
    chunks: list[Chunk]
    embedder: Embedder
    calibration: Calibration | None = None

    def evidence(self, question: str) -> float:
        """The best dense cosine for the question: what abstention is decided on."""
        hits = self.retrievers["dense"].search(question, 1)
        return hits[0].score if hits else 0.0

    def abstains(self, question: str) -> bool:
        threshold = self.calibration.abstain_below if self.calibration else None
        return threshold is not None and self.evidence(question) < threshold

    def search(self, retriever: str, question: str, k: int) -> tuple[list[ScoredChunk], bool]:
        """The top k chunks of one retriever, and whether the documents answer at all."""
        hits = self.retrievers[retriever].search(question, k)
        return hits, not self.abstains(question)


def load_engine(
    settings: Settings,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
) -> Engine:
    """Load the index; the query embedder is the one the index was built with."""
    index, manifest = load_index(settings.index_dir)
    check_corpus(settings, manifest)
    embedder = embedder or load_embedder(manifest.embedding_model)
    if embedder.name != manifest.embedding_model:
        raise ValueError(
            f"the index was built with {manifest.embedding_model!r}, not {embedder.name!r}; "
            "run `make ingest` again with the model you want to query with"
        )
    if store is None and settings.vector_store == "pgvector":
        store = pgvector_store(settings)
    calibration = load_calibration(settings.index_dir, manifest)
    retrievers = build_retrievers(
        index.chunks,
        store or index,
        embedder,
        settings.candidate_depth,
        calibration.fusion if calibration else Fusion(rrf_k=settings.rrf_k),
    )
    return Engine(manifest, retrievers, index.chunks, embedder, calibration)


@dataclass(frozen=True)
class QueryAnswer:
    """What `make query` prints: the answer (or the abstention) and its numbered sources."""

    answer: str
    hits: list[ScoredChunk]

    @property
    def summary(self) -> str:
        lines = [self.answer]
        for number, hit in enumerate(self.hits, 1):
            where = " > ".join(hit.chunk.heading_path) or hit.chunk.title
            lines.append(f"[{number}] {hit.score:.4f} {hit.chunk.doc_id} ({where})")
        return "\n".join(lines)


def query(settings: Settings, question: str, top_k: int | None = None) -> QueryAnswer:
    """Answer one question from the index, extractively, with the sources it cites."""
    engine = load_engine(settings)
    hits, answered = engine.search(settings.retriever, question, top_k or settings.top_k)
    return QueryAnswer(extractive_answer(question, hits).text if answered else ABSTAINED, hits)

"""Speed figures, not asserts: query latency per retriever and ingest throughput.

Ingest throughput is measured on the bundled corpus and on synthetic chunks (sentences
of the corpus shuffled into new chunks), so the figure at 10k chunks is reproducible.
"""

import json
import os
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .chunking import Chunk, chunk_documents
from .corpus import Document, corpus_sha256, load_documents, load_queries
from .embeddings import Embedder
from .index import Manifest, save_index
from .pipeline import embed_chunks, load_engine
from .platform.files import write_json
from .retrieval import Retriever
from .settings import Settings


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def latency(
    retrievers: Mapping[str, Retriever], queries: Sequence[str], k: int = 10
) -> dict[str, dict[str, float]]:
    """p50/p95 milliseconds per retriever over the queries (after one warm-up query)."""
    figures = {}
    for name, retriever in retrievers.items():
        retriever.search(queries[0], k)
        times = []
        for query in queries:
            started = time.perf_counter()
            retriever.search(query, k)
            times.append((time.perf_counter() - started) * 1000)
        figures[name] = {
            "p50_ms": round(percentile(times, 50), 3),
            "p95_ms": round(percentile(times, 95), 3),
        }
    return figures


def synthetic_chunks(documents: Sequence[Document], count: int, seed: int = 0) -> list[Chunk]:
    """`count` chunks of 4-8 corpus sentences drawn at random."""
    sentences = [s.strip() for d in documents for s in d.text.split(". ") if len(s.split()) > 3]
    rng = random.Random(seed)  # noqa: S311 - sampling text, not secrets
    chunks = []
    for number in range(count):
        text = ". ".join(rng.sample(sentences, rng.randint(4, 8)))
        chunks.append(
            Chunk(f"synthetic#{number}", f"synthetic-{number // 10}", "", text, 0, len(text), ())
        )
    return chunks


def ingest_throughput(chunks: list[Chunk], embedder: Embedder, batch_size: int) -> float:
    """Chunks per second to embed and write an index (chunking is not the bottleneck)."""
    started = time.perf_counter()
    index = embed_chunks(chunks, embedder, batch_size, progress=True)
    manifest = Manifest(embedder.name, embedder.dimension, "synthetic", 0, 0, 0, len(chunks))
    with tempfile.TemporaryDirectory() as folder:
        save_index(Path(folder) / "index", index, manifest)
    return len(chunks) / (time.perf_counter() - started)


def run(
    documents: Sequence[Document],
    queries: Sequence[str],
    retrievers: Mapping[str, Retriever],
    embedder: Embedder,
    *,
    chunking: str,
    chunk_size: int,
    chunk_overlap: int,
    batch_size: int,
    synthetic: int,
) -> dict[str, object]:
    corpus_chunks = chunk_documents(documents, chunking, chunk_size, chunk_overlap)
    figures: dict[str, object] = {
        "embedding_model": embedder.name,
        "queries": len(queries),
        "cpus": os.cpu_count(),
        "latency": latency(retrievers, queries),
        "ingest_chunks_per_s": {
            f"bundled ({len(corpus_chunks)} chunks)": round(
                ingest_throughput(corpus_chunks, embedder, batch_size), 1
            ),
            f"synthetic ({synthetic} chunks)": round(
                ingest_throughput(synthetic_chunks(documents, synthetic), embedder, batch_size), 1
            ),
        },
    }
    # Other work on the machine slows every figure: record how busy it was.
    figures["load_average"] = round(os.getloadavg()[0], 1)
    return figures


@dataclass(frozen=True)
class BenchmarkRun:
    """What `make benchmark` wrote to `output`, and prints."""

    output: Path
    figures: dict[str, object]

    @property
    def summary(self) -> str:
        return json.dumps(self.figures, indent=2)


def benchmark(settings: Settings, synthetic: int, output: Path) -> BenchmarkRun:
    """`make benchmark`: time the ingested index's retrievers and the ingest path."""
    engine = load_engine(settings)
    figures = run(
        load_documents(settings.corpus_path),
        list(load_queries(settings.corpus_path).values()),
        engine.retrievers,
        engine.embedder,
        chunking=settings.chunking,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        batch_size=settings.embedding_batch_size,
        synthetic=synthetic,
    )
    figures["corpus"] = {
        "path": str(settings.corpus_path),
        "sha256": corpus_sha256(settings.corpus_path),
    }
    write_json(output, figures)
    return BenchmarkRun(output, figures)

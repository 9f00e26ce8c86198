"""Retrievers over chunks: BM25, dense, their fusion, and a random baseline.

Each answers `search(query, k)` with chunks, best first. Scores are comparable only
within one retriever: BM25 sums term weights, dense is a cosine, hybrid is an RRF sum.
"""

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from .bm25 import BM25
from .chunking import Chunk
from .embeddings import Embedder
from .index import ScoredChunk, VectorStore


class Retriever(Protocol):
    def search(self, query: str, k: int) -> list[ScoredChunk]: ...


class BM25Retriever:
    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = list(chunks)
        self.bm25 = BM25([chunk.search_text() for chunk in self.chunks])

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        scores = self.bm25.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [ScoredChunk(self.chunks[i], float(scores[i])) for i in order if scores[i] > 0]


class DenseRetriever:
    def __init__(self, store: VectorStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        return self.store.search(self.embedder.encode([query])[0], k)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[ScoredChunk]], rrf_k: int = 60
) -> list[ScoredChunk]:
    """Sum 1 / (rrf_k + rank) over the rankings a chunk appears in (Cormack et al., 2009).

    Uses ranks only, so BM25's unbounded scores and cosines need no calibration.
    """
    fused: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, 1):
            key = hit.chunk.chunk_id
            fused[key] = fused.get(key, 0.0) + 1.0 / (rrf_k + rank)
            chunks.setdefault(key, hit.chunk)
    order = sorted(fused, key=lambda key: -fused[key])
    return [ScoredChunk(chunks[key], fused[key]) for key in order]


class HybridRetriever:
    def __init__(self, retrievers: Sequence[Retriever], depth: int = 50, rrf_k: int = 60) -> None:
        self.retrievers = list(retrievers)
        self.depth = depth
        self.rrf_k = rrf_k

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        depth = max(self.depth, k)
        rankings = [retriever.search(query, depth) for retriever in self.retrievers]
        return reciprocal_rank_fusion(rankings, self.rrf_k)[:k]


class RandomRetriever:
    """The floor every real retriever must clear: chunks in a random order (seeded per
    query, so a run is repeatable)."""

    def __init__(self, chunks: Sequence[Chunk], seed: int = 0) -> None:
        self.chunks = list(chunks)
        self.seed = seed

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        digest = hashlib.sha256(f"{self.seed}:{query}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        picks = rng.permutation(len(self.chunks))[:k]
        return [ScoredChunk(self.chunks[i], 1.0 / (rank + 1)) for rank, i in enumerate(picks)]


def build_retrievers(
    chunks: Sequence[Chunk],
    store: VectorStore,
    embedder: Embedder,
    depth: int = 50,
    rrf_k: int = 60,
) -> Mapping[str, Retriever]:
    """The three retrievers the project compares, sharing one BM25 and one store."""
    bm25 = BM25Retriever(chunks)
    dense = DenseRetriever(store, embedder)
    return {"bm25": bm25, "dense": dense, "hybrid": HybridRetriever([bm25, dense], depth, rrf_k)}

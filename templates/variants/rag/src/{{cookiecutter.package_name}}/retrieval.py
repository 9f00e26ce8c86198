"""Retrievers over chunks: BM25, dense, their fusion, and a random baseline.

Each answers `search(query, k)` with chunks, best first. Scores are comparable only
within one retriever: BM25 sums term weights, dense is a cosine, hybrid is an RRF sum.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from .bm25 import BM25
from .chunking import Chunk
from .embeddings import Embedder, Vectors
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
        # The last question's vector: hybrid search and the abstention check ask for
        # the same question in a row, and embedding it is the whole cost of a query.
        self._last: tuple[str, Vectors] | None = None

    def vector(self, query: str) -> Vectors:
        last = self._last
        if last is not None and last[0] == query:
            return last[1]
        vector: Vectors = self.embedder.encode([query])[0]
        self._last = (query, vector)
        return vector

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        return self.store.search(self.vector(query), k)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[ScoredChunk]],
    rrf_k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[ScoredChunk]:
    """Sum weight / (rrf_k + rank) over the rankings a chunk appears in (Cormack et al.,
    2009). Uses ranks only, so BM25's unbounded scores and cosines need no calibration."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, hit in enumerate(ranking, 1):
            key = hit.chunk.chunk_id
            fused[key] = fused.get(key, 0.0) + weight / (rrf_k + rank)
            chunks.setdefault(key, hit.chunk)
    order = sorted(fused, key=lambda key: -fused[key])
    return [ScoredChunk(chunks[key], fused[key]) for key in order]


def min_max_fusion(
    rankings: Sequence[Sequence[ScoredChunk]], weights: Sequence[float]
) -> list[ScoredChunk]:
    """A weighted sum of each ranking's scores scaled to [0, 1] (a chunk missing from a
    ranking scores 0 there): keeps how far apart scores are, which ranks throw away."""
    fused: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if not ranking:
            continue
        scores = [hit.score for hit in ranking]
        low, span = min(scores), max(scores) - min(scores)
        for hit in ranking:
            key = hit.chunk.chunk_id
            scaled = (hit.score - low) / span if span > 0 else 1.0
            fused[key] = fused.get(key, 0.0) + weight * scaled
            chunks.setdefault(key, hit.chunk)
    order = sorted(fused, key=lambda key: -fused[key])
    return [ScoredChunk(chunks[key], fused[key]) for key in order]


@dataclass(frozen=True)
class Fusion:
    """How hybrid combines BM25 and dense: a method and the weight on dense (BM25 gets
    the rest). `make evaluate` chooses one on dev questions (see `fusion_candidates`)."""

    method: Literal["rrf", "minmax"] = "rrf"
    dense_weight: float = 0.5
    rrf_k: int = 60

    def label(self) -> str:
        if self.dense_weight in (0.0, 1.0):
            return "bm25 only" if self.dense_weight == 0.0 else "dense only"
        detail = f", k={self.rrf_k}" if self.method == "rrf" else ""
        return f"{self.method} (dense weight {self.dense_weight:g}{detail})"

    def fuse(self, bm25: Sequence[ScoredChunk], dense: Sequence[ScoredChunk]) -> list[ScoredChunk]:
        if self.dense_weight >= 1.0:
            return list(dense)
        if self.dense_weight <= 0.0:
            return list(bm25)
        weights = (1.0 - self.dense_weight, self.dense_weight)
        if self.method == "minmax":
            return min_max_fusion([bm25, dense], weights)
        return reciprocal_rank_fusion([bm25, dense], self.rrf_k, weights)


def fusion_candidates(rrf_k: int = 60) -> list[Fusion]:
    """What evaluation tries on dev questions: both single retrievers, RRF and min-max
    fusion over a grid of dense weights."""
    weights = (0.2, 0.35, 0.5, 0.65, 0.8)
    return [
        Fusion("rrf", 1.0, rrf_k),
        Fusion("rrf", 0.0, rrf_k),
        *(Fusion("rrf", w, k) for k in sorted({rrf_k, 10}) for w in weights),
        *(Fusion("minmax", w, rrf_k) for w in weights),
    ]


class HybridRetriever:
    def __init__(
        self, bm25: Retriever, dense: Retriever, depth: int = 50, fusion: Fusion | None = None
    ) -> None:
        self.bm25 = bm25
        self.dense = dense
        self.depth = depth
        self.fusion = fusion or Fusion()

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        depth = max(self.depth, k)
        bm25, dense = self.bm25.search(query, depth), self.dense.search(query, depth)
        return self.fusion.fuse(bm25, dense)[:k]


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
    fusion: Fusion | None = None,
) -> Mapping[str, Retriever]:
    """The three retrievers the project compares, sharing one BM25 and one store."""
    bm25 = BM25Retriever(chunks)
    dense = DenseRetriever(store, embedder)
    return {"bm25": bm25, "dense": dense, "hybrid": HybridRetriever(bm25, dense, depth, fusion)}

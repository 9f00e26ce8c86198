import pytest

from {{ cookiecutter.package_name }}.bm25 import BM25, tokenize
from {{ cookiecutter.package_name }}.embeddings import HashingEmbedder
from {{ cookiecutter.package_name }}.index import NumpyIndex
from {{ cookiecutter.package_name }}.retrieval import (
    BM25Retriever,
    DenseRetriever,
    HybridRetriever,
    RandomRetriever,
    reciprocal_rank_fusion,
)

from variant_fixtures import Indexed, chunk, hit

CHUNKS = [
    chunk("refunds", text="Yearly plans are refunded within 14 days."),
    chunk("limits", text="The API allows 60 requests per minute."),
    chunk("webhooks", text="Webhook requests carry a signature header."),
]


def test_tokenizer_drops_stopwords_and_plural_s() -> None:
    assert tokenize("How do the Refunds and APIs work?") == ["refund", "api", "work"]


def test_bm25_prefers_rare_matching_terms() -> None:
    scores = BM25(["refund refund card", "card card card", "nothing here"]).scores("refund card")

    assert scores[0] > scores[1] > scores[2] == 0


def test_bm25_retriever_returns_only_matching_chunks_best_first() -> None:
    hits = BM25Retriever(CHUNKS).search("how many calls per minute", 5)

    assert [h.chunk.doc_id for h in hits] == ["limits"]


def test_dense_retriever_finds_the_chunk_it_was_given() -> None:
    embedder = HashingEmbedder()
    index = NumpyIndex(CHUNKS, embedder.encode([c.search_text() for c in CHUNKS]))

    hits = DenseRetriever(index, embedder).search("webhook signature header", 2)

    assert hits[0].chunk.doc_id == "webhooks"
    assert len(hits) == 2


def test_rrf_rewards_agreement_between_rankings() -> None:
    bm25 = [hit("a", 9.0), hit("b", 5.0)]
    dense = [hit("b", 0.9), hit("c", 0.8)]

    fused = reciprocal_rank_fusion([bm25, dense], rrf_k=60)

    assert [h.chunk.doc_id for h in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)


def test_hybrid_fuses_its_retrievers_and_cuts_to_k(indexed: Indexed) -> None:
    retrievers = indexed.engine.retrievers
    query = "How do I rotate an API key without downtime?"

    hybrid = retrievers["hybrid"].search(query, 3)

    assert len(hybrid) == 3
    tops = {retrievers["bm25"].search(query, 1)[0].chunk.chunk_id}
    tops.add(retrievers["dense"].search(query, 1)[0].chunk.chunk_id)
    assert hybrid[0].chunk.chunk_id in tops
    assert isinstance(retrievers["hybrid"], HybridRetriever)


def test_random_baseline_is_repeatable_per_query_and_differs_across_queries() -> None:
    chunks = [chunk(f"d{n}") for n in range(30)]
    baseline = RandomRetriever(chunks, seed=1)

    first = [h.chunk.doc_id for h in baseline.search("a question", 10)]

    assert first == [h.chunk.doc_id for h in baseline.search("a question", 10)]
    assert first != [h.chunk.doc_id for h in baseline.search("another question", 10)]

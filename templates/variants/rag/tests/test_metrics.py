import math

import pytest

from {{ cookiecutter.package_name }}.metrics import (
    documents_from_chunks,
    mean_scores,
    ndcg,
    recall,
    reciprocal_rank,
    score_query,
)

from variant_fixtures import hit


def test_chunk_hits_map_to_documents_by_their_best_chunk() -> None:
    hits = [hit("a", 0.9, 0), hit("b", 0.8, 0), hit("a", 0.95, 1), hit("c", 0.7, 0)]

    assert documents_from_chunks(hits) == [("a", 0.95), ("b", 0.8), ("c", 0.7)]


def test_many_chunks_of_one_document_count_once() -> None:
    hits = [hit("a", 1.0 - n / 100, n) for n in range(10)] + [hit("b", 0.5)]

    ranking = [doc for doc, _ in documents_from_chunks(hits)]

    assert ranking == ["a", "b"]
    assert recall(ranking, {"a": 1, "b": 2}, k=2) == 1.0


def test_reciprocal_rank_is_one_over_the_first_relevant_rank() -> None:
    assert reciprocal_rank(["x", "y", "a"], {"a": 1}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x", "a"], {"a": 0}) == 0.0
    assert reciprocal_rank(["x"] * 10 + ["a"], {"a": 2}, k=10) == 0.0


def test_ndcg_uses_graded_gains() -> None:
    judged = {"a": 2, "b": 1}
    ideal = 2 + 1 / math.log2(3)

    assert ndcg(["a", "b"], judged) == pytest.approx(1.0)
    assert ndcg(["b", "a"], judged) == pytest.approx((1 + 2 / math.log2(3)) / ideal)
    assert ndcg(["x", "y"], judged) == 0.0
    assert ndcg(["a"], {}) == 0.0


def test_recall_counts_relevant_documents_within_k() -> None:
    assert recall(["a", "x", "b"], {"a": 2, "b": 1, "c": 1}, k=2) == pytest.approx(1 / 3)
    assert recall(["a"], {"a": 0}, k=5) == 0.0


def test_mean_over_queries_and_no_queries_is_an_error() -> None:
    perfect = score_query(["a"], {"a": 2})
    miss = score_query(["x"], {"a": 2})

    assert mean_scores([perfect, miss]) == {
        "mrr@10": 0.5,
        "ndcg@10": 0.5,
        "recall@5": 0.5,
        "recall@10": 0.5,
    }
    with pytest.raises(ValueError, match="no judged queries"):
        mean_scores([])

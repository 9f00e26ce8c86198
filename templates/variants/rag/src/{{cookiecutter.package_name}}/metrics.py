"""Ranking metrics on documents, from chunk-level hits.

Judgements are per document, retrievers return chunks: a document's score is its best
chunk's score and its rank is the rank of that chunk, so a document with five matching
chunks counts once and cannot push other relevant documents out of the top 10.
"""

import math
from collections.abc import Mapping, Sequence

from .index import ScoredChunk

Qrels = Mapping[str, Mapping[str, int]]


def documents_from_chunks(hits: Sequence[ScoredChunk]) -> list[tuple[str, float]]:
    """(doc id, max chunk score), best first; ties keep the order the chunks came in."""
    best: dict[str, float] = {}
    for hit in hits:
        doc_id = hit.chunk.doc_id
        if doc_id not in best or hit.score > best[doc_id]:
            best[doc_id] = hit.score
    return sorted(best.items(), key=lambda item: -item[1])


def reciprocal_rank(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    for rank, doc_id in enumerate(ranking[:k], 1):
        if relevant.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def ndcg(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG with graded gains (0/1/2) and a log2 discount, as trec_eval computes it."""
    dcg = sum(
        relevant.get(doc_id, 0) / math.log2(rank + 1) for rank, doc_id in enumerate(ranking[:k], 1)
    )
    ideal_gains = sorted((grade for grade in relevant.values() if grade > 0), reverse=True)
    ideal = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal_gains[:k], 1))
    return dcg / ideal if ideal > 0 else 0.0


def recall(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    wanted = {doc_id for doc_id, grade in relevant.items() if grade > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranking[:k])) / len(wanted)


METRICS = ("mrr@10", "ndcg@10", "recall@5", "recall@10")


def score_query(ranking: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float]:
    return {
        "mrr@10": reciprocal_rank(ranking, relevant, 10),
        "ndcg@10": ndcg(ranking, relevant, 10),
        "recall@5": recall(ranking, relevant, 5),
        "recall@10": recall(ranking, relevant, 10),
    }


def mean_scores(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    if not per_query:
        raise ValueError("no judged queries to score")
    return {name: sum(row[name] for row in per_query) / len(per_query) for name in METRICS}

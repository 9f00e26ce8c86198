"""Every chunking strategy x retriever on the bundled judgements, with a random floor.

Each configuration is one MLflow run (params, metrics, data hashes, git commit); the
comparison is also written to results/ as JSON, a Markdown table and a PNG plot, from
which `make report` rebuilds the README's results (see `report.py`).
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .corpus import Document, data_files, load_documents, load_qrels, load_queries
from .embeddings import Embedder, load_embedder
from .files import atomic_path, write_json, write_text
from .index import ScoredChunk
from .metrics import METRICS, Qrels, documents_from_chunks, mean_scores, score_query
from .pipeline import build_index
from .retrieval import RandomRetriever, Retriever, build_retrievers
from .settings import Settings

STRATEGIES = ("fixed", "headings", "sentences")
RETRIEVERS = ("bm25", "dense", "hybrid")
BASELINE = "random"


class Row(Protocol):
    """One configuration's scores: a fresh `ConfigResult` or a row read back from results/."""

    @property
    def chunking(self) -> str: ...
    @property
    def retriever(self) -> str: ...
    @property
    def chunks(self) -> int: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class ConfigResult:
    chunking: str
    retriever: str
    chunks: int
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False)


def evaluate_retriever(
    retriever: Retriever,
    queries: Mapping[str, str],
    qrels: Qrels,
    depth: int = 50,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query metrics over the judged queries (unjudged ones are skipped)."""
    per_query: dict[str, dict[str, float]] = {}
    for query_id, relevant in sorted(qrels.items()):
        if query_id not in queries:
            continue
        hits: list[ScoredChunk] = retriever.search(queries[query_id], depth)
        ranking = [doc_id for doc_id, _ in documents_from_chunks(hits)]
        per_query[query_id] = score_query(ranking, relevant)
    return mean_scores(list(per_query.values())), per_query


def run_grid(
    settings: Settings,
    documents: list[Document],
    queries: Mapping[str, str],
    qrels: Qrels,
    embedder: Embedder,
    *,
    strategies: Sequence[str] = STRATEGIES,
    on_result: Callable[[ConfigResult], None] | None = None,
) -> list[ConfigResult]:
    results: list[ConfigResult] = []

    def record(result: ConfigResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    for strategy in strategies:
        index, _ = build_index(settings, documents, embedder, strategy)
        retrievers = build_retrievers(
            index.chunks, index, embedder, settings.candidate_depth, settings.rrf_k
        )
        for name in RETRIEVERS:
            metrics, per_query = evaluate_retriever(
                retrievers[name], queries, qrels, settings.candidate_depth
            )
            record(ConfigResult(strategy, name, len(index.chunks), metrics, per_query))
        if strategy == strategies[0]:
            baseline = RandomRetriever(index.chunks, settings.seed)
            metrics, per_query = evaluate_retriever(
                baseline, queries, qrels, settings.candidate_depth
            )
            record(ConfigResult(strategy, BASELINE, len(index.chunks), metrics, per_query))
    return results


def markdown_table(results: Sequence[Row]) -> str:
    header = "| chunking | retriever | chunks | " + " | ".join(METRICS) + " |"
    rule = "|---|---|---:|" + "---:|" * len(METRICS)
    rows = [
        f"| {r.chunking} | {r.retriever} | {r.chunks} | "
        + " | ".join(f"{r.metrics[name]:.3f}" for name in METRICS)
        + " |"
        for r in results
    ]
    return "\n".join([header, rule, *rows]) + "\n"


def plot(results: Sequence[Row], path: Path, metric: str = "ndcg@10") -> None:
    """Grouped bars, one group per chunking strategy and one bar per retriever, each
    labelled with its value; the random baseline is a dashed line. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    strategies = list(dict.fromkeys(r.chunking for r in results if r.retriever != BASELINE))
    figure, axes = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(RETRIEVERS)
    for offset, name in enumerate(RETRIEVERS):
        values = {r.chunking: r.metrics[metric] for r in results if r.retriever == name}
        xs = [i + offset * width for i in range(len(strategies))]
        bars = axes.bar(xs, [values.get(s, 0.0) for s in strategies], width, label=name)
        axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    for r in results:
        if r.retriever == BASELINE:
            axes.axhline(r.metrics[metric], color="grey", linestyle="--", label="random baseline")
    axes.set_xticks([i + width for i in range(len(strategies))], strategies)
    # Head room above 1.0 keeps the legend clear of the bars.
    axes.set_ylim(0, 1.2)
    axes.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} by chunking strategy and retriever")
    axes.legend(loc="upper center", ncol=4, frameon=False)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        # No software version in the file: the same results give the same bytes.
        figure.savefig(tmp, dpi=120, format="png", metadata={"Software": None})
    plt.close(figure)


def mlflow_name(metric: str) -> str:
    """MLflow metric names allow no '@': ndcg@10 -> ndcg_at_10."""
    return metric.replace("@", "_at_")


@dataclass(frozen=True)
class EvaluationReport:
    results: list[ConfigResult]
    table: str
    selected: ConfigResult
    failures: list[str]


def evaluate(
    settings: Settings, embedder: Embedder | None = None, *, track: bool = True
) -> EvaluationReport:
    """Run the grid, log each configuration, write the table, the plot and the JSON."""
    documents = load_documents(settings.corpus_path)
    queries = load_queries(settings.corpus_path)
    qrels = load_qrels(settings.corpus_path)
    embedder = embedder or load_embedder(settings.embedding_model)
    log = _mlflow_logger(settings, embedder) if track else None
    results = run_grid(settings, documents, queries, qrels, embedder, on_result=log)
    table = markdown_table(results)
    out = settings.results_dir
    evaluated = results[0].per_query
    write_json(
        out / "retrieval_eval.json",
        {
            "embedding_model": embedder.name,
            "documents": len(documents),
            "queries": len(evaluated),
            "judgements": sum(len(qrels[query_id]) for query_id in evaluated),
            "settings": _evaluated_settings(settings),
            "results": [
                {
                    "chunking": r.chunking,
                    "retriever": r.retriever,
                    "chunks": r.chunks,
                    "metrics": r.metrics,
                }
                for r in results
            ],
        },
    )
    write_text(out / "retrieval_eval.md", table)
    plot(results, out / "retrieval_eval.png")
    selected = next(
        r for r in results if (r.chunking, r.retriever) == (settings.chunking, settings.retriever)
    )
    failures = []
    if selected.metrics["ndcg@10"] < settings.min_ndcg_at_10:
        failures.append(
            f"{settings.chunking}/{settings.retriever} ndcg@10="
            f"{selected.metrics['ndcg@10']:.3f} is below MIN_NDCG_AT_10={settings.min_ndcg_at_10}"
        )
    return EvaluationReport(results, table, selected, failures)


def _evaluated_settings(settings: Settings) -> dict[str, Any]:
    """What the README states next to the table: the knobs every configuration shared."""
    return {
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "candidate_depth": settings.candidate_depth,
        "rrf_k": settings.rrf_k,
        "chunking": settings.chunking,
        "retriever": settings.retriever,
        "min_ndcg_at_10": settings.min_ndcg_at_10,
    }


def _mlflow_logger(settings: Settings, embedder: Embedder) -> Callable[[ConfigResult], None]:
    import mlflow

    from .tracking import tracked_run

    files = data_files(settings.corpus_path)

    def log(result: ConfigResult) -> None:
        params = {
            "chunking": result.chunking,
            "retriever": result.retriever,
            "embedding_model": embedder.name,
            "chunk_size": settings.chunk_size,
            "chunk_overlap": settings.chunk_overlap,
            "candidate_depth": settings.candidate_depth,
            "rrf_k": settings.rrf_k,
            "chunks": result.chunks,
        }
        name = f"{result.chunking}-{result.retriever}"
        started = time.perf_counter()
        with tracked_run(settings, name, params, files):
            mlflow.log_metrics({mlflow_name(k): v for k, v in result.metrics.items()})
            mlflow.log_dict(result.per_query, "per_query.json")
            mlflow.log_metric("log_seconds", time.perf_counter() - started)

    return log

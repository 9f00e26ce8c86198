"""Every chunking strategy x retriever on the judgements, with a random floor.

The judged questions are split (seeded, recorded) into dev and test. Everything chosen
from data is chosen on dev only: the hybrid's fusion per chunking and the abstention
threshold. Every figure reported is on test only, with a bootstrap interval over test
questions, and hybrid is compared with its best single retriever question by question.

Each configuration is one MLflow run (params, metrics, data hashes, git commit); the
comparison is also written to results/ as JSON, a Markdown table and a PNG plot, from
which `make report` rebuilds the README's results (see `report.py`).
"""

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field

from .calibration import Calibration, save_calibration
from .chunking import STRATEGIES as CHUNKINGS
from .corpus import (
    Document,
    corpus_sha256,
    data_files,
    load_documents,
    load_out_of_scope,
    load_qrels,
    load_queries,
)
from .embedding_cache import CachingEmbedder
from .embeddings import Embedder, progress_bar
from .index import IndexNotFoundError, Manifest, NumpyIndex, ScoredChunk, load_index
from .metrics import METRICS, Qrels, documents_from_chunks, mean_scores, score_query
from .pipeline import build_index, cached_embedder
from .platform.files import atomic_path, write_json, write_text
from .platform.stats import Estimate, percentile_interval
from .retrieval import (
    BM25Retriever,
    DenseRetriever,
    Fusion,
    RandomRetriever,
    Retriever,
    fusion_candidates,
)
from .settings import Settings

logger = logging.getLogger(__name__)

STRATEGIES = tuple(CHUNKINGS)
SINGLE = ("bm25", "dense")
RETRIEVERS = (*SINGLE, "hybrid")
BASELINE = "random"
# Metrics given a bootstrap interval; the others are shown as points.
INTERVAL_METRICS = ("mrr@10", "ndcg@10")
# Fusion must beat the best single retriever on dev by this much nDCG@10 to be used:
# a smaller gain is more likely noise than a better ranking.
FUSION_MARGIN = 0.005

Hits = dict[str, list[ScoredChunk]]


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
    @property
    def intervals(self) -> Mapping[str, tuple[float, float]]: ...


@dataclass(frozen=True)
class ConfigResult:
    chunking: str
    retriever: str
    chunks: int
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    fusion: str | None = None


@dataclass(frozen=True)
class Split:
    """Judged questions cut into dev (choices) and test (figures), by a seeded shuffle."""

    seed: int
    dev: list[str]
    test: list[str]


def split_queries(ids: Sequence[str], dev_fraction: float, seed: int) -> Split:
    ordered = sorted(ids)
    if len(ordered) < 2:
        raise ValueError(
            f"{len(ordered)} judged question(s): at least 2 are needed to split dev and test"
        )
    order = np.random.default_rng(seed).permutation(len(ordered))
    dev_size = min(max(1, round(len(ordered) * dev_fraction)), len(ordered) - 1)
    dev = sorted(ordered[i] for i in order[:dev_size])
    test = sorted(ordered[i] for i in order[dev_size:])
    return Split(seed, dev, test)


def bootstrap(values: Sequence[float], seed: int, samples: int = 2000) -> Estimate:
    """Mean and 95% percentile interval over resampled questions (shared `stats`)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no questions to bootstrap")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    low, high = percentile_interval(means, 0.95)
    return Estimate(float(data.mean()), low, high)


def verdict(difference: Estimate) -> str:
    """'wins' or 'loses' only when the interval of the difference excludes zero."""
    if difference.low > 0:
        return "wins"
    if difference.high < 0:
        return "loses"
    return "ties"


def ranking(hits: Sequence[ScoredChunk]) -> list[str]:
    return [doc_id for doc_id, _ in documents_from_chunks(hits)]


def per_query_scores(hits: Hits, qrels: Qrels, ids: Sequence[str]) -> dict[str, dict[str, float]]:
    return {query_id: score_query(ranking(hits[query_id]), qrels[query_id]) for query_id in ids}


def evaluate_retriever(
    retriever: Retriever,
    queries: Mapping[str, str],
    qrels: Qrels,
    depth: int = 50,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query metrics over the judged queries (unjudged ones are skipped)."""
    ids = [query_id for query_id in sorted(qrels) if query_id in queries]
    hits = {query_id: retriever.search(queries[query_id], depth) for query_id in ids}
    per_query = per_query_scores(hits, qrels, ids)
    return mean_scores(list(per_query.values())), per_query


def mean_ndcg(hits: Hits, qrels: Qrels, ids: Sequence[str]) -> float:
    return float(np.mean([score_query(ranking(hits[i]), qrels[i])["ndcg@10"] for i in ids]))


def choose_fusion(
    bm25: Hits,
    dense: Hits,
    qrels: Qrels,
    dev: Sequence[str],
    *,
    rrf_k: int = 60,
    candidates: Sequence[Fusion] | None = None,
) -> tuple[Fusion, float]:
    """The fusion with the best dev nDCG@10 among those that beat the better single
    retriever on at least as many dev questions as they lose, and by FUSION_MARGIN on
    average; else that single retriever. Returns the choice and its dev nDCG@10.

    The per-question rule keeps a fusion that wins big on a few questions and loses
    on most (BM25 dragging down paraphrased questions) from being chosen.
    """
    scored = []
    for candidate in candidates or fusion_candidates(rrf_k):
        fused = {i: candidate.fuse(bm25[i], dense[i]) for i in dev}
        per_question = [score_query(ranking(fused[i]), qrels[i])["ndcg@10"] for i in dev]
        scored.append((float(np.mean(per_question)), per_question, candidate))
    singles = [entry for entry in scored if entry[2].dense_weight in (0.0, 1.0)]
    best_single = max(singles, key=lambda entry: entry[0])

    def holds_up(entry: tuple[float, list[float], Fusion]) -> bool:
        pairs = list(zip(entry[1], best_single[1], strict=True))
        wins = sum(fused > single for fused, single in pairs)
        losses = sum(fused < single for fused, single in pairs)
        return wins >= losses and entry[0] - best_single[0] >= FUSION_MARGIN

    eligible = [entry for entry in scored if entry not in singles and holds_up(entry)]
    chosen = max(eligible, key=lambda entry: entry[0]) if eligible else best_single
    return chosen[2], chosen[0]


@dataclass(frozen=True)
class Comparison:
    """Hybrid minus its best single retriever (the better one on test), per question."""

    chunking: str
    single: str
    metric: str
    difference: Estimate
    verdict: str


class Abstention(BaseModel):
    """Abstain below `threshold` (best dense cosine), chosen on dev, scored on test.

    Also the record in results/retrieval_eval.json that `make report` reads back: the
    question lists stay out of it (the examples are written separately, as text), and
    precision and recall are written for readers of the file but always recomputed.
    """

    model_config = ConfigDict(frozen=True)

    chunking: str
    threshold: float | None
    dev_in_scope: int
    dev_out_of_scope: int
    test_in_scope: int
    test_out_of_scope: int
    abstained_out_of_scope: int
    abstained_in_scope: int
    missed: list[str] = Field(default_factory=list, exclude=True)
    wrongly_abstained: list[str] = Field(default_factory=list, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def precision(self) -> float:
        abstained = self.abstained_out_of_scope + self.abstained_in_scope
        return self.abstained_out_of_scope / abstained if abstained else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recall(self) -> float:
        if not self.test_out_of_scope:
            return 0.0
        return self.abstained_out_of_scope / self.test_out_of_scope


def choose_threshold(in_scope: Sequence[float], out_of_scope: Sequence[float]) -> float | None:
    """The cut between sorted dev scores with the best F1 at flagging out-of-scope
    questions (ties: the lowest, which abstains least); None without both kinds."""
    if not in_scope or not out_of_scope:
        return None
    scores = sorted({*in_scope, *out_of_scope})
    cuts = [(a + b) / 2 for a, b in itertools.pairwise(scores)] or [scores[0]]
    best: tuple[float, float] | None = None
    for cut in cuts:
        caught = sum(score < cut for score in out_of_scope)
        wrong = sum(score < cut for score in in_scope)
        f1 = 2 * caught / (2 * caught + wrong + (len(out_of_scope) - caught))
        if best is None or f1 > best[0]:
            best = (f1, cut)
    return round(best[1], 4) if best else None


@dataclass(frozen=True)
class GridResult:
    results: list[ConfigResult]
    fusions: dict[str, tuple[Fusion, float]]
    comparisons: list[Comparison]
    abstention: "Abstention | None"


def _search_all(retriever: Retriever, texts: Mapping[str, str], depth: int) -> Hits:
    return {query_id: retriever.search(text, depth) for query_id, text in texts.items()}


def _result(
    config: tuple[str, str, int],
    hits: Hits,
    qrels: Qrels,
    split: Split,
    *,
    seed: int,
    fusion: str | None = None,
) -> ConfigResult:
    strategy, name, chunks = config
    per_query = per_query_scores(hits, qrels, split.test)
    intervals = {}
    for metric in INTERVAL_METRICS:
        estimate = bootstrap([per_query[i][metric] for i in split.test], seed)
        intervals[metric] = (round(estimate.low, 6), round(estimate.high, 6))
    metrics = mean_scores(list(per_query.values()))
    return ConfigResult(strategy, name, chunks, metrics, per_query, intervals, fusion)


def run_grid(
    settings: Settings,
    documents: list[Document],
    queries: Mapping[str, str],
    qrels: Qrels,
    embedder: Embedder | CachingEmbedder,
    *,
    split: Split,
    out_of_scope: Mapping[str, str] | None = None,
    strategies: Sequence[str] = STRATEGIES,
    reuse: tuple[NumpyIndex, Manifest] | None = None,
    on_result: Callable[[ConfigResult], object] | None = None,
) -> GridResult:
    """Score each chunking x retriever on test; `reuse` is an ingested index of one
    chunking, searched instead of built again; `on_result` follows each row scored."""
    depth, seed = settings.candidate_depth, settings.seed
    judged = {i: queries[i] for i in (*split.dev, *split.test)}
    oos = dict(out_of_scope or {})
    if isinstance(embedder, CachingEmbedder):
        # Every question embedded in one batched pass; searches then hit memory.
        embedder.encode([*judged.values(), *oos.values()], label="questions")
    results: list[ConfigResult] = []
    fusions: dict[str, tuple[Fusion, float]] = {}
    comparisons: list[Comparison] = []
    abstention = None

    for strategy in strategies:
        if reuse is not None and reuse[1].chunking == strategy:
            index = reuse[0]
            logger.debug("reusing the ingested %s index (%d chunks)", strategy, len(index.chunks))
        else:
            index, _ = build_index(settings, documents, embedder, strategy)
        dense = DenseRetriever(index, embedder)
        hits = {"bm25": _search_all(BM25Retriever(index.chunks), judged, depth)}
        hits["dense"] = _search_all(dense, judged, depth)
        fusion, dev_score = choose_fusion(
            hits["bm25"], hits["dense"], qrels, split.dev, rrf_k=settings.rrf_k
        )
        fusions[strategy] = (fusion, dev_score)
        hits["hybrid"] = {i: fusion.fuse(hits["bm25"][i], hits["dense"][i]) for i in judged}
        size = len(index.chunks)
        scored = {
            name: _result(
                (strategy, name, size),
                hits[name],
                qrels,
                split,
                seed=seed,
                fusion=fusion.label() if name == "hybrid" else None,
            )
            for name in RETRIEVERS
        }
        comparisons.append(_compare(strategy, scored, split, seed))
        if strategy == strategies[0]:
            floor = _search_all(RandomRetriever(index.chunks, seed), judged, depth)
            scored[BASELINE] = _result((strategy, BASELINE, size), floor, qrels, split, seed=seed)
        for row in scored.values():
            results.append(row)
            if on_result is not None:
                on_result(row)
        if strategy == settings.chunking:
            abstention = _abstention(strategy, hits["dense"], dense, oos, split=split, seed=seed)
    return GridResult(results, fusions, comparisons, abstention)


def _compare(
    strategy: str, scored: Mapping[str, ConfigResult], split: Split, seed: int
) -> Comparison:
    metric = "ndcg@10"
    single = max(SINGLE, key=lambda name: scored[name].metrics[metric])
    hybrid, other = scored["hybrid"].per_query, scored[single].per_query
    difference = bootstrap([hybrid[i][metric] - other[i][metric] for i in split.test], seed)
    return Comparison(strategy, single, metric, difference, verdict(difference))


def _abstention(
    strategy: str,
    dense_hits: Hits,
    dense: DenseRetriever,
    out_of_scope: Mapping[str, str],
    *,
    split: Split,
    seed: int,
) -> Abstention | None:
    """Out-of-scope questions split like the judged ones; threshold from dev."""
    if not out_of_scope:
        return None
    if len(out_of_scope) >= 2:
        share = len(split.dev) / (len(split.dev) + len(split.test))
        oos_split = split_queries(list(out_of_scope), share, seed)
    else:
        oos_split = Split(seed, [], list(out_of_scope))

    def top(hits: list[ScoredChunk]) -> float:
        return hits[0].score if hits else 0.0

    oos_scores = {i: top(dense.search(text, 1)) for i, text in out_of_scope.items()}
    in_scores = {i: top(hits) for i, hits in dense_hits.items()}
    threshold = choose_threshold(
        [in_scores[i] for i in split.dev], [oos_scores[i] for i in oos_split.dev]
    )

    def below(score: float) -> bool:
        return threshold is not None and score < threshold

    missed = [i for i in oos_split.test if not below(oos_scores[i])]
    wrong = [i for i in split.test if below(in_scores[i])]
    return Abstention(
        chunking=strategy,
        threshold=threshold,
        dev_in_scope=len(split.dev),
        dev_out_of_scope=len(oos_split.dev),
        test_in_scope=len(split.test),
        test_out_of_scope=len(oos_split.test),
        abstained_out_of_scope=len(oos_split.test) - len(missed),
        abstained_in_scope=len(wrong),
        missed=missed,
        wrongly_abstained=wrong,
    )


def _cell(row: Row, name: str) -> str:
    value = f"{row.metrics[name]:.3f}"
    interval = row.intervals.get(name)
    return f"{value} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else value


def markdown_table(results: Sequence[Row]) -> str:
    header = "| chunking | retriever | chunks | " + " | ".join(METRICS) + " |"
    rule = "|---|---|---:|" + "---:|" * len(METRICS)
    rows = [
        f"| {r.chunking} | {r.retriever} | {r.chunks} | "
        + " | ".join(_cell(r, name) for name in METRICS)
        + " |"
        for r in results
    ]
    return "\n".join([header, rule, *rows]) + "\n"


def plot(results: Sequence[Row], path: Path, metric: str = "ndcg@10") -> None:
    """Grouped bars, one group per chunking strategy and one bar per retriever, each
    labelled with its value and its 95% interval as an error bar; the random baseline
    is a dashed line. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    strategies = list(dict.fromkeys(r.chunking for r in results if r.retriever != BASELINE))
    figure, axes = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(RETRIEVERS)
    for offset, name in enumerate(RETRIEVERS):
        rows = {r.chunking: r for r in results if r.retriever == name}
        xs = [i + offset * width for i in range(len(strategies))]
        values, below, above = [], [], []
        for strategy in strategies:
            row = rows.get(strategy)
            value = row.metrics[metric] if row else 0.0
            low, high = row.intervals.get(metric, (value, value)) if row else (value, value)
            values.append(value)
            below.append(max(0.0, value - low))
            above.append(max(0.0, high - value))
        bars = axes.bar(xs, values, width, label=name, yerr=[below, above], capsize=3)
        axes.bar_label(bars, fmt="%.3f", fontsize=7, label_type="center")
    for r in results:
        if r.retriever == BASELINE:
            axes.axhline(r.metrics[metric], color="grey", linestyle="--", label="random baseline")
    axes.set_xticks([i + width for i in range(len(strategies))], strategies)
    # Head room above 1.0 keeps the legend clear of the bars.
    axes.set_ylim(0, 1.2)
    axes.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} on test questions, with 95% bootstrap intervals")
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
    """What `make evaluate` found, and the lines it prints; `failures` fail the command."""

    results: list[ConfigResult]
    table: str
    selected: ConfigResult
    failures: list[str]
    embedded: int = 0
    calibrated: Path | None = None
    results_dir: Path = Path("results")
    index_dir: Path = Path("index")

    @property
    def summary(self) -> str:
        lines = [
            self.table,
            f"table, plot and JSON written to {self.results_dir}/retrieval_eval.*",
            f"embedded {self.embedded} texts (the rest came from the embedding cache)",
        ]
        if self.calibrated is None:
            lines.append(
                f"no index of this corpus and chunking at {self.index_dir}: run `make ingest` "
                "then `make evaluate` to give the API the fusion and abstention chosen here"
            )
        else:
            lines.append(f"fusion and abstention threshold stored in {self.calibrated}")
        return "\n".join(lines)


def ingested_index(settings: Settings, corpus_hash: str) -> tuple[NumpyIndex, Manifest] | None:
    """The index `make ingest` wrote, if it was built from this corpus with these settings."""
    try:
        index, manifest = load_index(settings.index_dir)
    except IndexNotFoundError:
        return None
    wanted = (
        settings.embedding_model,
        corpus_hash,
        settings.chunking,
        settings.chunk_size,
        settings.chunk_overlap,
    )
    found = (
        manifest.embedding_model,
        manifest.corpus_sha256,
        manifest.chunking,
        manifest.chunk_size,
        manifest.chunk_overlap,
    )
    return (index, manifest) if found == wanted else None


def evaluate(
    settings: Settings,
    embedder: Embedder | None = None,
    *,
    track: bool = True,
    progress: bool = False,
) -> EvaluationReport:
    """Run the grid, log each configuration, write the table, the plot and the JSON, and
    store the dev choices beside the ingested index when it is this corpus's.
    `progress`: one bar over the configurations scored (on a terminal)."""
    corpus = settings.corpus_path
    documents = load_documents(corpus)
    queries = load_queries(corpus)
    qrels = load_qrels(corpus)
    out_of_scope = load_out_of_scope(corpus)
    corpus_hash = corpus_sha256(corpus)
    judged = [query_id for query_id in sorted(qrels) if query_id in queries]
    split = split_queries(judged, settings.dev_fraction, settings.seed)
    caching = cached_embedder(settings, embedder)
    reuse = ingested_index(settings, corpus_hash)
    embedded = 0
    rows = len(STRATEGIES) * len(RETRIEVERS) + 1  # and the random baseline
    with progress_bar(rows, "evaluate", "configuration", show=progress) as bar:

        def embedding(count: int) -> None:
            nonlocal embedded
            embedded += count
            bar.set_postfix_str(f"embedded {embedded} texts")

        caching.on_batch = embedding
        grid = run_grid(
            settings,
            documents,
            queries,
            qrels,
            caching,
            split=split,
            out_of_scope=out_of_scope,
            reuse=reuse,
            on_result=lambda _: bar.update(),
        )
        bar.set_postfix_str("writing results/ and the MLflow runs")
        results = grid.results
        table = markdown_table(results)
        out = settings.results_dir
        payload = _payload(
            settings, caching.name, corpus_hash, len(documents), qrels, split=split, grid=grid
        )
        payload["hardest"] = _hardest(settings, grid, queries)
        payload["abstention_examples"] = _abstention_examples(
            grid.abstention, queries, out_of_scope
        )
        write_json(out / "retrieval_eval.json", payload)
        write_text(out / "retrieval_eval.md", table)
        plot(results, out / "retrieval_eval.png")
        if track:
            _log_runs(settings, caching.name, split, corpus_hash, grid)
    selected = next(
        r for r in results if (r.chunking, r.retriever) == (settings.chunking, settings.retriever)
    )
    calibrated = None
    if reuse is not None:
        fusion = grid.fusions[settings.chunking][0]
        threshold = grid.abstention.threshold if grid.abstention else None
        calibration = Calibration(caching.name, corpus_hash, settings.chunking, fusion, threshold)
        save_calibration(settings.index_dir, calibration)
        calibrated = settings.index_dir
    failures = []
    if selected.metrics["ndcg@10"] < settings.min_ndcg_at_10:
        failures.append(
            f"{settings.chunking}/{settings.retriever} ndcg@10="
            f"{selected.metrics['ndcg@10']:.3f} is below MIN_NDCG_AT_10={settings.min_ndcg_at_10}"
        )
    return EvaluationReport(
        results,
        table,
        selected,
        failures,
        caching.embedded,
        calibrated,
        settings.results_dir,
        settings.index_dir,
    )


def _payload(
    settings: Settings,
    model: str,
    corpus_hash: str,
    documents: int,
    qrels: Qrels,
    *,
    split: Split,
    grid: GridResult,
) -> dict[str, Any]:
    abstention = grid.abstention
    return {
        "embedding_model": model,
        "corpus": {"path": str(settings.corpus_path), "sha256": corpus_hash},
        "documents": documents,
        "queries": len(split.test),
        "dev_queries": len(split.dev),
        "judgements": sum(len(qrels[query_id]) for query_id in split.test),
        "split": asdict(split) | {"dev_fraction": settings.dev_fraction},
        "settings": _evaluated_settings(settings),
        "results": [
            {
                "chunking": r.chunking,
                "retriever": r.retriever,
                "chunks": r.chunks,
                "metrics": r.metrics,
                "intervals": {name: list(pair) for name, pair in r.intervals.items()},
                "fusion": r.fusion,
            }
            for r in grid.results
        ],
        "fusion": {
            strategy: {"choice": fusion.label(), "dev_ndcg_at_10": round(score, 6)}
            for strategy, (fusion, score) in grid.fusions.items()
        },
        "comparisons": [
            {
                "chunking": c.chunking,
                "single": c.single,
                "metric": c.metric,
                "difference": [c.difference.value, c.difference.low, c.difference.high],
                "verdict": c.verdict,
            }
            for c in grid.comparisons
        ],
        "abstention": None if abstention is None else abstention.model_dump(),
    }


def _hardest(settings: Settings, grid: GridResult, queries: Mapping[str, str]) -> list[Any]:
    """The configured pipeline's three worst test questions: the README's failure cases."""
    wanted = (settings.chunking, settings.retriever)
    rows = [row for row in grid.results if (row.chunking, row.retriever) == wanted]
    if not rows:
        return []
    scores = rows[0].per_query
    worst = sorted(scores, key=lambda i: (scores[i]["ndcg@10"], i))[:3]
    return [{"question": queries[i], "ndcg@10": scores[i]["ndcg@10"]} for i in worst]


def _abstention_examples(
    abstention: Abstention | None, queries: Mapping[str, str], out_of_scope: Mapping[str, str]
) -> dict[str, list[str]]:
    if abstention is None:
        return {"answered_out_of_scope": [], "abstained_in_scope": []}
    return {
        "answered_out_of_scope": [out_of_scope[i] for i in abstention.missed][:3],
        "abstained_in_scope": [queries[i] for i in abstention.wrongly_abstained][:3],
    }


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
        "seed": settings.seed,
    }


def _log_runs(
    settings: Settings, model: str, split: Split, corpus_hash: str, grid: GridResult
) -> None:
    """One parent run (the shared lineage: params, data hashes, git commit) with one child
    run per configuration. Each child is created, filled in one batch and closed: three
    round trips, where a full run per configuration repeated the experiment lookup, the
    git call and the data hashing ten times. The parent holds every configuration's
    per-question scores (`per_query.json`) and the abstention figures."""
    from .platform.tracking import tracked_run

    shared: dict[str, object] = {
        "embedding_model": model,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "candidate_depth": settings.candidate_depth,
        "corpus_path": str(settings.corpus_path),
        "corpus_sha256": corpus_hash,
        "split_seed": split.seed,
        "test_questions": len(split.test),
    }
    summary = dict(shared, chunking=settings.chunking, retriever=settings.retriever)
    files = data_files(settings.corpus_path)
    with tracked_run(settings, "evaluate", summary, files) as run:
        lineage = run.lineage()
        if grid.abstention is not None and grid.abstention.threshold is not None:
            run.log_metrics(
                {
                    "abstention_precision": grid.abstention.precision,
                    "abstention_recall": grid.abstention.recall,
                    "abstention_threshold": grid.abstention.threshold,
                }
            )
        for result in grid.results:
            params = shared | {
                "chunking": result.chunking,
                "retriever": result.retriever,
                "fusion": result.fusion or "",
                "chunks": result.chunks,
            }
            name = f"{result.chunking}-{result.retriever}"
            run.log_child(name, params, _run_metrics(result), lineage)
        # Per-question scores of every configuration in one artifact, not one each.
        per_query = {f"{r.chunking}-{r.retriever}": r.per_query for r in grid.results}
        run.log_dict(per_query, "per_query.json")


def _run_metrics(result: ConfigResult) -> dict[str, float]:
    metrics = {mlflow_name(k): v for k, v in result.metrics.items()}
    for metric, (low, high) in result.intervals.items():
        metrics[f"{mlflow_name(metric)}_low"] = low
        metrics[f"{mlflow_name(metric)}_high"] = high
    return metrics

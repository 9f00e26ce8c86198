import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pytest

from {{ cookiecutter.package_name }}.corpus import load_qrels, load_queries
from {{ cookiecutter.package_name }}.embeddings import HashingEmbedder
from {{ cookiecutter.package_name }}.evaluation import (
    BASELINE,
    ConfigResult,
    evaluate,
    evaluate_retriever,
    markdown_table,
)
from {{ cookiecutter.package_name }}.index import ScoredChunk
from {{ cookiecutter.package_name }}.report import Evaluation, load
from {{ cookiecutter.package_name }}.retrieval import Retriever

from variant_fixtures import HANDBOOK, Indexed, rag_settings


class Reversed:
    """A deliberately broken retriever: the worst chunks of a good one first."""

    def __init__(self, inner: Retriever, pool: int) -> None:
        self.inner = inner
        self.pool = pool

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        hits = self.inner.search(query, self.pool)[::-1][:k]
        return [ScoredChunk(h.chunk, float(len(hits) - rank)) for rank, h in enumerate(hits)]


def test_a_broken_retriever_scores_lower_than_the_real_one(indexed: Indexed) -> None:
    queries, qrels = load_queries(HANDBOOK), load_qrels(HANDBOOK)
    bm25 = indexed.engine.retrievers["bm25"]

    good, _ = evaluate_retriever(bm25, queries, qrels)
    broken, _ = evaluate_retriever(Reversed(bm25, pool=len(indexed.engine.chunks)), queries, qrels)

    for metric in ("mrr@10", "ndcg@10", "recall@10"):
        assert broken[metric] < good[metric] - 0.3, metric


def test_unjudged_or_unknown_queries_are_skipped(indexed: Indexed) -> None:
    means, per_query = evaluate_retriever(
        indexed.engine.retrievers["bm25"],
        {"q-01": "Can I change the base currency?", "q-x": "unjudged"},
        {"q-01": {"kb-01": 2}, "q-missing": {"kb-02": 1}},
    )

    assert list(per_query) == ["q-01"]
    assert means == per_query["q-01"]


@pytest.fixture(scope="module")
def report_dir(
    tmp_path_factory: pytest.TempPathFactory, new_store: Callable[[Path], Path]
) -> tuple[Path, list[ConfigResult]]:
    workdir = tmp_path_factory.mktemp("evaluated")
    new_store(workdir)
    report = evaluate(rag_settings(workdir), HashingEmbedder())
    return workdir, report.results


def test_evaluation_covers_every_chunking_and_retriever_plus_a_baseline(
    report_dir: tuple[Path, list[ConfigResult]],
) -> None:
    _, results = report_dir

    configs = {(r.chunking, r.retriever) for r in results}
    assert {(c, r) for c in ("fixed", "headings", "sentences") for r in ("bm25", "dense", "hybrid")}
    assert configs - {("fixed", BASELINE)} == {
        (c, r) for c in ("fixed", "headings", "sentences") for r in ("bm25", "dense", "hybrid")
    }


def test_every_retriever_beats_the_random_baseline(
    report_dir: tuple[Path, list[ConfigResult]],
) -> None:
    _, results = report_dir
    floor = next(r for r in results if r.retriever == BASELINE).metrics

    for result in results:
        if result.retriever != BASELINE:
            assert result.metrics["ndcg@10"] > floor["ndcg@10"] + 0.2, result


def test_evaluation_writes_table_plot_and_one_mlflow_run_per_configuration(
    report_dir: tuple[Path, list[ConfigResult]],
) -> None:
    workdir, results = report_dir

    table = (workdir / "results" / "retrieval_eval.md").read_text()
    assert table == markdown_table(results)
    assert (workdir / "results" / "retrieval_eval.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((workdir / "results" / "retrieval_eval.json").read_text())
    split = saved["split"]
    assert (saved["documents"], saved["queries"], saved["dev_queries"]) == (45, 35, 35)
    assert sorted(split["dev"] + split["test"]) == sorted(load_qrels(HANDBOOK))
    assert not set(split["dev"]) & set(split["test"])
    assert saved["corpus"]["path"] == str(HANDBOOK)
    assert len(saved["corpus"]["sha256"]) == 64
    assert saved["settings"]["chunking"] == "headings"
    assert [(r["chunking"], r["retriever"]) for r in saved["results"]] == [
        (r.chunking, r.retriever) for r in results
    ]
    assert saved["results"][0]["metrics"] == results[0].metrics
    # The report reads what the evaluation writes.
    read_back = load(workdir / "results" / "retrieval_eval.json", Evaluation, "evaluate")
    assert markdown_table(read_back.results) == table
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    parent = next(r for r in runs if r.info.run_name == "evaluate")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == len(children) + 1 == len(results) + 1
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert parent.data.params["corpus_sha256"] == saved["corpus"]["sha256"]
    assert set(parent.data.metrics) >= {"abstention_precision", "abstention_recall"}
    run = next(r for r in children if r.info.run_name == "headings-hybrid")
    wanted = ("headings", "hybrid")
    row = next(r for r in saved["results"] if (r["chunking"], r["retriever"]) == wanted)
    assert set(run.data.metrics) >= {"mrr_at_10", "ndcg_at_10", "ndcg_at_10_low", "recall_at_10"}
    assert run.data.metrics["ndcg_at_10"] == row["metrics"]["ndcg@10"]
    assert run.data.params["embedding_model"] == "hashing"
    assert run.data.params["fusion"] == row["fusion"]
    assert run.data.params["corpus_sha256"] == saved["corpus"]["sha256"]
    # Every child carries the parent's lineage: data hashes, commit, process.
    assert run.data.tags["data_sha256.qrels"] == parent.data.tags["data_sha256.qrels"]
    assert run.data.tags["git_commit"] == parent.data.tags["git_commit"]
    per_query = mlflow.artifacts.load_dict(f"{parent.info.artifact_uri}/per_query.json")
    assert per_query["headings-hybrid"].keys() == set(saved["split"]["test"])


def test_a_failure_while_logging_ends_the_runs_failed_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: Callable[[Path], Path]
) -> None:
    new_store(tmp_path)
    original = mlflow.MlflowClient.log_batch

    def broken(self: mlflow.MlflowClient, run_id: str, **kwargs: Any) -> None:
        if any(m.key == "ndcg_at_10" for m in kwargs.get("metrics") or []):
            raise OSError("disk full")  # a configuration's run, not the parent's
        original(self, run_id, **kwargs)

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", broken)

    with pytest.raises(OSError, match="disk full"):
        evaluate(rag_settings(tmp_path), HashingEmbedder())

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert sorted((r.info.run_name, r.info.status) for r in runs) == [
        ("evaluate", "FAILED"),
        ("fixed-bm25", "FAILED"),
    ]


def test_markdown_table_has_one_row_per_configuration() -> None:
    result = ConfigResult(
        "fixed", "bm25", 12, dict.fromkeys(("mrr@10", "ndcg@10", "recall@5", "recall@10"), 0.5), {}
    )

    lines = markdown_table([result]).splitlines()

    assert lines[0].startswith("| chunking | retriever | chunks | mrr@10")
    assert lines[2] == "| fixed | bm25 | 12 | 0.500 | 0.500 | 0.500 | 0.500 |"


def test_a_pipeline_below_its_quality_floor_is_reported(tmp_path: Path) -> None:
    settings = rag_settings(tmp_path, min_ndcg_at_10=0.99)

    report = evaluate(settings, HashingEmbedder(), track=False)

    assert report.selected.chunking == "headings"
    assert report.failures
    assert "below MIN_NDCG_AT_10=0.99" in report.failures[0]

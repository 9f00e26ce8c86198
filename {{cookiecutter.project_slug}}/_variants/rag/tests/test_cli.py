import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.report import Benchmark
from {{ cookiecutter.package_name }}.settings import get_settings

from variant_fixtures import HANDBOOK

runner = CliRunner()


@pytest.fixture(autouse=True)
def hashing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_MODEL", "hashing")
    monkeypatch.setenv("CORPUS_PATH", str(HANDBOOK))


def test_ingest_then_query_answers_with_cited_sources() -> None:
    ingested = runner.invoke(app, ["ingest"])
    answered = runner.invoke(app, ["query", "Which identity providers work for SAML login?"])

    assert ingested.exit_code == 0, ingested.output
    assert "indexed 45 documents as" in ingested.output
    assert answered.exit_code == 0, answered.output
    assert "[1] " in answered.output
    assert "kb-27" in answered.output


def test_ingest_of_a_bad_corpus_fails_with_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe")

    result = runner.invoke(app, ["ingest", "--corpus", str(tmp_path)])

    assert result.exit_code == 1
    assert "bad.txt is not UTF-8" in result.output
    assert not Path("index").exists()


def test_query_and_benchmark_without_an_index_say_to_ingest() -> None:
    for command in (["query", "anything"], ["benchmark"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        assert "make ingest" in result.output


def test_evaluate_prints_the_table_and_fails_below_the_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passed = runner.invoke(app, ["evaluate"])
    monkeypatch.setenv("MIN_NDCG_AT_10", "0.999")
    get_settings.cache_clear()
    failed = runner.invoke(app, ["evaluate"])

    assert passed.exit_code == 0, passed.output
    assert "| headings | hybrid |" in passed.output
    assert Path("results/retrieval_eval.png").is_file()
    assert failed.exit_code == 1
    assert "below MIN_NDCG_AT_10" in failed.output


def test_evaluate_on_a_missing_corpus_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPUS_PATH", "nowhere")

    result = runner.invoke(app, ["evaluate"])

    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_benchmark_reports_latency_percentiles_and_throughput() -> None:
    runner.invoke(app, ["ingest"])

    result = runner.invoke(app, ["benchmark", "--synthetic", "200", "--output", "bench.json"])

    assert result.exit_code == 0, result.output
    figures = json.loads(Path("bench.json").read_text())
    assert set(figures["latency"]) == {"bm25", "dense", "hybrid"}
    for latency in figures["latency"].values():
        assert 0 < latency["p50_ms"] <= latency["p95_ms"]
    assert "synthetic (200 chunks)" in figures["ingest_chunks_per_s"]
    assert figures["load_average"] >= 0
    # The report reads what the benchmark writes.
    assert Benchmark.model_validate(figures).latency["bm25"].p50_ms > 0

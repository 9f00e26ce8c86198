import errno
import json
from pathlib import Path

import numpy as np
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


def test_top_k_sets_how_many_sources_query_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: TOP_K was read and ignored; the CLI always printed 5 sources."""
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    monkeypatch.setenv("TOP_K", "2")
    get_settings.cache_clear()

    default = runner.invoke(app, ["query", "How do I rotate an API key?"])
    flag = runner.invoke(app, ["query", "How do I rotate an API key?", "--top-k", "3"])

    printed = [line.split("]")[0] for line in default.output.splitlines() if line[:1] == "["]
    flagged = [line.split("]")[0] for line in flag.output.splitlines() if line[:1] == "["]
    assert (printed, flagged) == (["[1", "[2"], ["[1", "[2", "[3"])


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
    assert figures["corpus"]["path"] == str(HANDBOOK)
    assert len(figures["corpus"]["sha256"]) == 64
    assert figures["load_average"] >= 0
    # The report reads what the benchmark writes.
    assert Benchmark.model_validate(figures).latency["bm25"].p50_ms > 0


def test_a_full_disk_is_one_line_naming_the_file_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: a 67-line traceback."""

    def disk_full(file: object, *_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(file))

    monkeypatch.setattr(np, "save", disk_full)

    result = runner.invoke(app, ["ingest"])

    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith("error: the disk is full (")
    assert "vectors.npy" in errors[0]
    assert "EMBEDDING_CACHE_DIR" in errors[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "value"),
    [("API_PORT", "abc"), ("CHUNKING", "paragraphs"), ("LOG_LEVEL", "verbose")],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Before: a ~60-line traceback ending in pydantic's message."""
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()

    result = runner.invoke(app, ["ingest"])

    assert result.exit_code == 1
    assert result.output.startswith(f"error: invalid setting {variable}=")
    assert f"{variable}='{value}'" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_corpus_reaches_evaluate_and_query_as_it_reaches_ingest(tmp_path: Path) -> None:
    """Before: `--corpus` (CORPUS=) reached ingest only; evaluate scored the handbook."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "Lunar rovers", "text": "Rovers drive on the moon."}\n'
        '{"_id": "d2", "title": "Tea", "text": "Green tea is steeped briefly."}\n'
    )
    (corpus / "queries.jsonl").write_text(
        '{"_id": "a", "text": "What drives on the moon?"}\n{"_id": "b", "text": "steeping tea"}\n'
    )
    (corpus / "qrels").mkdir()
    (corpus / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\na\td1\t2\nb\td2\t2\n")

    ingested = runner.invoke(app, ["ingest", "--corpus", str(corpus)])
    evaluated = runner.invoke(app, ["evaluate", "--corpus", str(corpus)])
    mismatched = runner.invoke(app, ["query", "moon"])  # CORPUS_PATH is the handbook

    assert ingested.exit_code == 0, ingested.output
    assert evaluated.exit_code == 0, evaluated.output
    saved = json.loads(Path("results/retrieval_eval.json").read_text())
    assert (saved["corpus"]["path"], saved["documents"]) == (str(corpus), 2)
    assert mismatched.exit_code == 1
    assert f"built from {corpus}" in mismatched.output
    assert f"CORPUS_PATH={HANDBOOK}" in mismatched.output


def test_a_non_utf8_env_file_is_one_line_naming_it() -> None:
    Path(".env").write_bytes(b"CHUNKING=headings\nLLM_MODEL=caf\xe9\n")
    get_settings.cache_clear()

    result = runner.invoke(app, ["ingest"])

    assert result.exit_code == 1
    assert result.output.startswith("error: cannot read .env: it is not UTF-8 text")
    assert "Traceback" not in result.output

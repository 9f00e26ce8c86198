import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.platform.readme import ReportError
from {{ cookiecutter.package_name }}.report import (
    FIGURE,
    Benchmark,
    Evaluation,
    LoadTest,
    best_configurations,
    capacity_section,
    failures_section,
    findings_section,
    load,
    retrieval_section,
    rewrite,
    speed_section,
)

from variant_fixtures import PROJECT_README

runner = CliRunner()


def config(chunking: str, retriever: str, chunks: int, *scores: float) -> dict[str, Any]:
    names = ("mrr@10", "ndcg@10", "recall@5", "recall@10")
    return {
        "chunking": chunking,
        "retriever": retriever,
        "chunks": chunks,
        "metrics": dict(zip(names, scores, strict=True)),
    }


EVALUATION: dict[str, Any] = {
    "embedding_model": "all-MiniLM-L6-v2",
    "corpus": {"path": "data/handbook", "sha256": "ab12" * 16},
    "documents": 45,
    "queries": 35,
    "dev_queries": 35,
    "judgements": 50,
    "split": {"seed": 42, "dev_fraction": 0.5, "dev": ["q-01"], "test": ["q-02"]},
    "settings": {
        "chunk_size": 800,
        "chunk_overlap": 150,
        "candidate_depth": 50,
        "rrf_k": 60,
        "chunking": "headings",
        "retriever": "hybrid",
        "min_ndcg_at_10": 0.5,
    },
    "results": [
        config("fixed", "bm25", 118, 0.93369, 0.91716, 0.91905, 0.97143),
        config("fixed", "hybrid", 118, 0.94036, 0.92783, 0.92857, 0.98571),
        config("fixed", "random", 118, 0.08476, 0.09392, 0.09048, 0.21667),
        config("headings", "dense", 254, 0.91579, 0.89302, 0.92381, 0.95),
        config("headings", "hybrid", 254, 0.96071, 0.93791, 0.95, 0.97857),
        config("sentences", "hybrid", 255, 0.96061, 0.93812, 0.95, 0.97857),
    ],
}
BENCHMARK: dict[str, Any] = {
    "embedding_model": "all-MiniLM-L6-v2",
    "queries": 70,
    "cpus": 2,
    "load_average": 3.94,
    "latency": {
        "bm25": {"p50_ms": 0.031, "p95_ms": 0.058},
        "dense": {"p50_ms": 14.2, "p95_ms": 19.87},
        "hybrid": {"p50_ms": 15.013, "p95_ms": 20.5},
    },
    "ingest_chunks_per_s": {"bundled (254 chunks)": 34.5, "synthetic (2000 chunks)": 1212.25},
}
LOAD_TEST: dict[str, Any] = {
    "requests": 500,
    "concurrency": 8,
    "retriever": "hybrid",
    "errors": 0,
    "seconds": 20.0,
    "requests_per_second": 25.0,
    "p50_ms": 300.0,
    "p95_ms": 420.0,
    "p99_ms": 480.5,
    "machine": "x86_64 Linux, 2 CPUs",
    "load_average": 2.5,
}
README = (
    "# Project\n\nIntro text.\n\n"
    "<!-- results:retrieval -->\nold table\n<!-- /results:retrieval -->\n"
    "<!-- results:findings -->\nold claims\n<!-- /results:findings -->\n"
    "\nAuthor's prose.\n\n<!-- results:speed -->\nold speed\n<!-- /results:speed -->\n"
    "<!-- results:failures -->\nold failures\n<!-- /results:failures -->\n"
    "<!-- results:capacity -->\nold capacity\n<!-- /results:capacity -->\n\nEnd.\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with a README and the results `make evaluate` and `make benchmark` write."""
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "retrieval_eval.json").write_text(json.dumps(EVALUATION))
    (tmp_path / "results" / "benchmark.json").write_text(json.dumps(BENCHMARK))
    (tmp_path / "results" / "load_test.json").write_text(json.dumps(LOAD_TEST))
    (tmp_path / "README.md").write_text(README)
    return tmp_path


def evaluation(**changes: Any) -> Evaluation:
    return Evaluation.model_validate(EVALUATION | changes)


def test_retrieval_table_has_a_row_per_configuration_with_three_decimals() -> None:
    lines = retrieval_section(evaluation()).splitlines()

    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| chunking | retriever | chunks | mrr@10 | ndcg@10 | recall@5 | recall@10 |"
    assert table[2] == "| fixed | bm25 | 118 | 0.934 | 0.917 | 0.919 | 0.971 |"
    assert table[4] == "| fixed | random | 118 | 0.085 | 0.094 | 0.090 | 0.217 |"
    assert table[6] == "| headings | hybrid | 254 | 0.961 | 0.938 | 0.950 | 0.979 |"
    assert len(table) == 2 + len(EVALUATION["results"])


def test_retrieval_section_states_the_setup_the_best_the_configured_and_the_floor() -> None:
    text = retrieval_section(evaluation())

    assert text.startswith("`data/handbook` (sha256 ab12ab12ab12): 45 documents; all-MiniLM")
    assert "chosen on 35 dev questions" in text
    assert "on the other 35 test questions (50 graded judgements)" in text
    # sentences + hybrid wins on the unrounded nDCG@10, headings + hybrid ties at 3 decimals.
    assert (
        "- **Best: sentences + hybrid** (nDCG@10 0.938, MRR@10 0.961), "
        "tied at three decimals with headings + hybrid." in text
    )
    assert "(`CHUNKING=headings`, `RETRIEVER=hybrid`): nDCG@10 0.938, MRR@10 0.961;" in text
    assert "- Random baseline (fixed chunks): nDCG@10 0.094, MRR@10 0.085;" in text
    assert text.endswith(f"({FIGURE.as_posix()})")


def test_a_clear_winner_is_named_without_ties() -> None:
    rows = [*EVALUATION["results"][:2], config("fixed", "dense", 118, 0.99, 0.99, 0.99, 0.99)]

    best = best_configurations(evaluation(results=rows))

    assert [(b.chunking, b.retriever) for b in best] == [("fixed", "dense")]
    assert "tied" not in retrieval_section(evaluation(results=rows))


def test_an_evaluation_with_only_the_baseline_is_refused() -> None:
    with pytest.raises(ReportError, match="only the random baseline"):
        best_configurations(evaluation(results=[EVALUATION["results"][2]]))


def test_an_unconfigured_pipeline_gets_no_configured_line() -> None:
    settings = EVALUATION["settings"] | {"chunking": "fixed", "retriever": "dense"}

    assert "Configured pipeline" not in retrieval_section(evaluation(settings=settings))


def test_speed_section_quotes_the_benchmark() -> None:
    text = speed_section(Benchmark.model_validate(BENCHMARK))

    assert (
        "all-MiniLM-L6-v2, latency over 70 questions, top 10 on 2 CPU cores "
        "(load average 3.9 at the end of the run)." in text
    )
    assert "| bm25 | 0.03 | 0.06 |" in text
    assert "| hybrid | 15.01 | 20.50 |" in text
    assert "| bundled (254 chunks) | 34.5 |" in text
    assert "| synthetic (2000 chunks) | 1,212.2 |" in text


def test_speed_section_without_a_benchmark_says_how_to_make_one() -> None:
    assert speed_section(None) == (
        "No benchmark recorded yet: run `make ingest`, then `make benchmark`."
    )


def test_capacity_plans_each_replica_at_the_autoscalers_cpu_target() -> None:
    text = capacity_section(LoadTest.model_validate(LOAD_TEST))

    # 25 requests/s at 70% is 17.5 per replica; never fewer than the autoscaler's 2.
    assert "One worker answered 25.0 `/query` requests/s (hybrid retrieval" in text
    assert "8 clients, 500 requests, 0 errors; x86_64 Linux, 2 CPUs, load average 2.5" in text
    assert "plans for 17.5 requests/s" in text
    assert text.splitlines()[-3:] == [
        "| 10 requests/s | 2 |",
        "| 100 requests/s | 6 |",
        "| 1,000 requests/s | 58 |",
    ]


def test_capacity_without_a_load_test_says_how_to_make_one(project: Path) -> None:
    (project / "results" / "load_test.json").unlink()

    rewrite(project / "results", project / "README.md")

    assert capacity_section(None) in (project / "README.md").read_text()
    assert capacity_section(None) == (
        "No load test recorded yet: run `make serve`, then `make load-test`."
    )


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (None, "is missing: run `make evaluate` first"),
        ("{not json", "is not what `make evaluate` writes"),
        (json.dumps(EVALUATION | {"results": []}), "results: List should have at least 1 item"),
        (
            json.dumps(
                EVALUATION
                | {
                    "results": [
                        {**config("fixed", "bm25", 1, 0, 0, 0, 0), "metrics": {"mrr@10": 0.1}}
                    ]
                }
            ),
            "results.0.metrics: Value error, missing ndcg@10, recall@5, recall@10",
        ),
    ],
)
def test_unreadable_results_name_the_file_and_the_make_target(
    tmp_path: Path, content: str | None, detail: str
) -> None:
    path = tmp_path / "retrieval_eval.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(ReportError, match=r"retrieval_eval\.json") as raised:
        load(path, Evaluation, "evaluate")

    assert detail in str(raised.value)


def test_report_rewrites_only_the_results_sections(project: Path) -> None:
    figure = rewrite(project / "results", project / "README.md")

    text = (project / "README.md").read_text()
    for old in ("old table", "old speed", "old claims", "old failures", "old capacity"):
        assert old not in text
    assert text.startswith("# Project\n\nIntro text.\n\n<!-- results:retrieval -->\n`data/")
    assert "<!-- /results:findings -->\n\nAuthor's prose.\n\n<!-- results:speed -->\n" in text
    assert "| synthetic (2000 chunks) | 1,212.2 |\n<!-- /results:speed -->\n" in text
    assert "| 100 requests/s | 6 |\n| 1,000 requests/s | 58 |\n<!-- /results:capacity -->" in text
    assert text.endswith("<!-- /results:capacity -->\n\nEnd.\n")
    assert "| headings | hybrid | 254 | 0.961 | 0.938 | 0.950 | 0.979 |\n" in text
    assert figure == project / FIGURE


def test_report_twice_gives_the_same_bytes(project: Path) -> None:
    readme, figure = project / "README.md", project / FIGURE

    rewrite(project / "results", readme)
    first = readme.read_bytes(), figure.read_bytes()
    rewrite(project / "results", readme)

    assert (readme.read_bytes(), figure.read_bytes()) == first


def test_report_without_a_benchmark_keeps_the_speed_section_honest(project: Path) -> None:
    (project / "results" / "benchmark.json").unlink()

    rewrite(project / "results", project / "README.md")

    assert "No benchmark recorded yet" in (project / "README.md").read_text()


def test_figure_is_a_non_blank_png_of_the_expected_size(project: Path) -> None:
    figure = rewrite(project / "results", project / "README.md")

    pixels = image.imread(str(figure))
    assert pixels.shape[:2] == (480, 840)  # 7 x 4 inches at 120 dpi
    assert float(np.std(pixels)) > 0.05
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert len(colours) > 10  # bars, labels and the baseline line, not a flat fill


def test_the_cli_report_updates_the_readme_and_the_figure(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)

    result = runner.invoke(app, ["report"])

    assert result.exit_code == 0, result.output
    assert f"updated README.md and {FIGURE}" in result.output
    assert "| fixed | hybrid | 118 |" in Path("README.md").read_text()
    assert FIGURE.is_file()


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("retrieval_eval.json", "retrieval_eval.json is missing: run `make evaluate` first"),
        ("benchmark.json", "benchmark.json is not what `make benchmark` writes"),
        ("markers", "README has no '<!-- results:speed -->'"),
        ("readme", "README.md is missing"),
    ],
)
def test_a_failed_report_exits_1_and_writes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, broken: str, message: str
) -> None:
    monkeypatch.chdir(project)
    readme = Path("README.md")
    if broken == "retrieval_eval.json":
        Path("results/retrieval_eval.json").unlink()
    elif broken == "benchmark.json":
        Path("results/benchmark.json").write_text('{"latency": 3}')
    elif broken == "markers":
        readme.write_text(README.replace("<!-- results:speed -->\n", ""))
    else:
        readme.unlink()
    before = readme.read_bytes() if readme.exists() else None

    result = runner.invoke(app, ["report"])

    assert result.exit_code == 1
    assert message in result.output
    assert (readme.read_bytes() if readme.exists() else None) == before
    assert not FIGURE.exists()
    assert not list(Path().rglob("*.tmp"))


def test_the_shipped_readme_carries_the_sections_the_report_fills() -> None:
    text = PROJECT_README.read_text(encoding="utf-8")

    for name in ("retrieval", "findings", "speed", "failures", "capacity"):
        assert text.count(f"<!-- results:{name} -->\n") == 1
        assert text.count(f"<!-- /results:{name} -->") == 1
    assert f"]({FIGURE.as_posix()})" in text


def comparison(verdict: str, low: float, high: float) -> dict[str, Any]:
    middle = (low + high) / 2
    return {
        "chunking": "headings",
        "single": "dense",
        "metric": "ndcg@10",
        "difference": [middle, low, high],
        "verdict": verdict,
    }


@pytest.mark.parametrize(
    ("verdict", "low", "high", "said"),
    [
        ("wins", 0.01, 0.05, "hybrid **wins**"),
        ("loses", -0.05, -0.01, "hybrid **loses**"),
        ("ties", -0.02, 0.03, "hybrid cannot be told apart from it"),
    ],
)
def test_findings_say_wins_only_when_the_interval_excludes_zero(
    verdict: str, low: float, high: float, said: str
) -> None:
    text = findings_section(evaluation(comparisons=[comparison(verdict, low, high)]))

    assert said in text
    assert f"[{low:+.3f}, {high:+.3f}]" in text
    assert ("wins" in text) == (verdict == "wins")
    assert "- **Every real configuration scores nDCG@10 0.893 to 0.938** against 0.094" in text


def test_findings_and_failures_report_abstention_from_the_results() -> None:
    abstention = {
        "chunking": "headings",
        "threshold": 0.3125,
        "dev_in_scope": 35,
        "dev_out_of_scope": 10,
        "test_in_scope": 35,
        "test_out_of_scope": 10,
        "abstained_out_of_scope": 8,
        "abstained_in_scope": 1,
        "precision": 8 / 9,
        "recall": 0.8,
    }
    examples = {
        "answered_out_of_scope": ["Who won the *World Cup*?"],
        "abstained_in_scope": [],
    }
    hardest = [{"question": "How do I export?", "ndcg@10": 0.25}]
    result = evaluation(abstention=abstention, abstention_examples=examples, hardest=hardest)

    findings, failures = findings_section(result), failures_section(result)

    assert "below 0.312" in findings or "below 0.313" in findings
    assert "declined 8 of 10 out-of-scope questions (recall 0.80)" in findings
    assert "1 of 35 answerable ones (precision 0.89)" in findings
    assert "- nDCG@10 0.250: How do I export?" in failures
    assert 'still answered: "Who won the \\*World Cup\\*?".' in failures
    assert "Answerable test questions it declined: none." in failures


def test_findings_without_out_of_scope_questions_say_the_api_never_abstains() -> None:
    assert "**No abstention threshold**" in findings_section(evaluation())


def test_results_of_another_corpus_are_refused_naming_both(project: Path) -> None:
    corpus = project / "other"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nText.\n")
    before = (project / "README.md").read_bytes()

    with pytest.raises(ReportError) as raised:
        rewrite(project / "results", project / "README.md", corpus)

    message = str(raised.value)
    assert "is from data/handbook (sha256 ab12ab12ab12)" in message
    assert f"not CORPUS_PATH={corpus}" in message
    assert (project / "README.md").read_bytes() == before

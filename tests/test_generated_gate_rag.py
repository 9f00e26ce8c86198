"""A rag project installs, ingests, evaluates, reports, passes its gate and answers.

Like the serving gate, this bakes a project and drives it only through its own Make
targets. The project depends on torch (through sentence-transformers), so the baked
copy is pointed at the CPU wheel on this machine first (`use_local_torch`); every later
target runs with UV_OFFLINE=1 and the Hugging Face offline switches.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from support import (
    bounded_load,
    call,
    figure_stats,
    install_with_local_torch,
    make,
    poll,
    running_api,
    schema_fuzz,
)


@pytest.fixture
def rag_project(
    fresh_bake: Callable[[Mapping[str, str]], Path],
) -> tuple[Path, dict[str, str]]:
    project = fresh_bake({"variant": "rag", "init_git": "yes"})
    return project, install_with_local_torch(project)


Served = dict[str, tuple[int, str]]
OFF_TOPIC = "What is the capital of France?"


def _serve_and_query(
    project: Path, torch_env: Mapping[str, str]
) -> tuple[Served, str, dict[str, float | int]]:
    """`make serve` until /ready: a good query, bad ones, an off-topic one, /metrics,
    a bounded load."""
    with running_api(project, torch_env) as base:
        ready = poll(f"{base}/ready", lambda status, _: status == 200, 180)
        assert ready[0] == 200, f"the API never became ready: {ready}"
        question = "How do I rotate an API key without downtime?"
        served = {
            "answered": call(f"{base}/query", {"question": question}),
            "invalid": call(f"{base}/query", {"question": "", "top_k": 0}),
            "unknown field": call(f"{base}/query", {"question": question, "topk": 1}),
            "off topic": call(f"{base}/query", {"question": OFF_TOPIC}),
        }
        metrics_text = call(f"{base}/metrics")[1]
        load = bounded_load(f"{base}/query", {"question": question}, requests=200)
        # The project's own load test, whose figures `make report` turns into replicas.
        where = {"API_PORT": base.rsplit(":", 1)[1], "REQUESTS": "40"}
        measured = make(project, "load-test", extra_env={**torch_env, **where})
        fuzzed = schema_fuzz(base, max_examples=50)
    assert "No issues found" in fuzzed
    recorded = json.loads((project / "results" / "load_test.json").read_text())
    assert (recorded["requests"], recorded["errors"]) == (40, 0), measured[-2000:]
    assert recorded["requests_per_second"] > 0
    return served, metrics_text, load


def _report_reproduces_the_shipped_readme(project: Path, shipped: str) -> None:
    """`make report` after a fresh evaluation writes back the very README shipped: the
    bundled corpus, the bundled weights and the code fix every number in it. The verb
    contract: it reads results/ alone, so the index, the embedding cache, the tracking
    store and the corpus are out of reach while it runs."""
    away = ("index", ".cache", "mlflow.db", "data")
    figure = project / "docs" / "retrieval_eval.png"
    for name in away:
        (project / name).rename(project / f"{name}.away")
    try:
        figure.unlink()
        reported = make(project, "report")
    finally:
        for name in away:
            (project / f"{name}.away").rename(project / name)
    assert "updated README.md and docs/retrieval_eval.png" in reported
    table = (project / "results" / "retrieval_eval.md").read_text(encoding="utf-8")
    text = (project / "README.md").read_text(encoding="utf-8")
    missing = [row for row in table.splitlines() if row not in text.splitlines()]
    assert not missing, f"README lacks rows of results/retrieval_eval.md: {missing}"
    diff = difflib.unified_diff(
        shipped.splitlines(), text.splitlines(), "shipped", "reported", lineterm=""
    )
    assert text == shipped, "make report changed the README:\n" + "\n".join(diff)
    # The figure must open, be 840 x 480 (7 x 4 inches at 120 dpi) and hold more
    # than a flat fill.
    stats = figure_stats(project, figure)
    shape, spread, colours = stats["shape"], float(stats["std"]), int(stats["colours"])
    assert shape == [480, 840]
    assert spread > 0.05
    assert colours > 10


def test_rag_project_ingests_evaluates_passes_its_gate_and_answers(
    rag_project: tuple[Path, dict[str, str]],
) -> None:
    project, torch_env = rag_project
    shipped = (project / "README.md").read_text(encoding="utf-8")

    ingested = make(project, "ingest", extra_env=torch_env)
    assert "indexed 45 documents as" in ingested
    assert (project / "index" / "manifest.json").is_file()

    evaluated = make(project, "evaluate", extra_env=torch_env)
    # Ingest embedded what evaluate needs while its model was loaded (the questions and
    # the chunk texts the other chunkings do not share); evaluate reuses the index and
    # embeds nothing.
    chunks = int(ingested.split("indexed 45 documents as ", 1)[1].split()[0])
    texts = int(ingested.split("embedded ", 1)[1].split()[0])
    assert 0 < texts < 2 * chunks + 100, ingested[-2000:]
    assert "embedded 0 texts" in evaluated, evaluated[-2000:]
    assert "fusion and abstention threshold stored in index" in evaluated
    # The terminal gets each command's summary, not a model library's INFO lines or a
    # line per question searched (#15).
    for output in (ingested, evaluated):
        assert "sentence_transformers" not in output, output[-2000:]
        assert "found in the embedding cache" not in output, output[-2000:]
    results = json.loads((project / "results" / "retrieval_eval.json").read_text())
    rows = {(r["chunking"], r["retriever"]): r for r in results["results"]}
    assert len(rows) == 10  # 3 chunkings x 3 retrievers + the random baseline
    assert results["corpus"]["path"] == "data/handbook"
    assert results["abstention"]["threshold"] is not None
    floor = rows[("fixed", "random")]["metrics"]["ndcg@10"]
    real = [r for key, r in rows.items() if key[1] != "random"]
    assert all(r["metrics"]["ndcg@10"] > floor + 0.3 for r in real)
    assert (project / "results" / "retrieval_eval.png").stat().st_size > 1000

    _report_reproduces_the_shipped_readme(project, shipped)

    gate = make(project, "check", extra_env=torch_env)
    passed = int(gate.rsplit(" passed", 1)[0].rsplit(" ", 1)[-1])
    assert passed >= 100
    assert "Required test coverage of 90" in gate

    served, metrics_text, load = _serve_and_query(project, torch_env)

    answered = served["answered"]
    assert answered[0] == 200
    body = json.loads(answered[1])
    assert body["answered"] is True
    assert body["generator"] == "extractive"
    assert "[1]" in body["answer"] or "[2]" in body["answer"]
    assert "**" not in body["answer"]
    sources = body["sources"]
    assert sources[0]["doc_id"] == "kb-23"  # "API authentication and API keys"
    assert all(s["title"] and s["chunk_id"].startswith(s["doc_id"]) for s in sources)
    invalid, unknown = served["invalid"], served["unknown field"]
    assert invalid[0] == 422
    assert "question" in invalid[1]
    assert unknown[0] == 422
    assert "topk" in unknown[1]
    off_topic = json.loads(served["off topic"][1])
    assert off_topic["answered"] is False
    assert off_topic["sources"]  # the closest passages, still shown
    rejected = 'http_requests_total{method="POST",route="/query",status="422"} 2.0'
    assert rejected in metrics_text
    assert "abstentions_total 1.0" in metrics_text
    assert (load["requests"], load["errors"]) == (200, 0)

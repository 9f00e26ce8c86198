"""Rag's gate proofs: ingest embeds what evaluate needs, evaluate beats random
retrieval by a margin, `make report` writes back the very README shipped, and the
API answers with cited sources, abstains off topic and holds under load."""

from __future__ import annotations

import difflib
import json

from gate.contract import Gate, Reported, VariantProofs
from support import bounded_load, call, figure_stats, schema_fuzz

OFF_TOPIC = "What is the capital of France?"
QUESTION = "How do I rotate an API key without downtime?"


def _quiet(output: str) -> None:
    """The terminal gets each command's summary, not a model library's INFO lines or
    a line per question searched (#15)."""
    assert "sentence_transformers" not in output, output[-2000:]
    assert "found in the embedding cache" not in output, output[-2000:]


def _ingested(gate: Gate, output: str) -> None:
    assert "indexed 45 documents as" in output
    assert (gate.project / "index" / "manifest.json").is_file()
    _quiet(output)
    gate.notes["ingested"] = output


def _evaluated(gate: Gate, output: str) -> None:
    # Ingest embedded what evaluate needs while its model was loaded (the questions
    # and the chunk texts the other chunkings do not share); evaluate reuses the
    # index and embeds nothing.
    ingested: str = gate.notes["ingested"]
    chunks = int(ingested.split("indexed 45 documents as ", 1)[1].split(maxsplit=1)[0])
    texts = int(ingested.split("embedded ", 1)[1].split(maxsplit=1)[0])
    assert 0 < texts < 2 * chunks + 100, ingested[-2000:]
    assert "embedded 0 texts" in output, output[-2000:]
    assert "fusion and abstention threshold stored in index" in output
    _quiet(output)
    results = gate.results("retrieval_eval.json")
    rows = {(r["chunking"], r["retriever"]): r for r in results["results"]}
    assert len(rows) == 10  # 3 chunkings x 3 retrievers + the random baseline
    assert results["corpus"]["path"] == "data/handbook"
    assert results["abstention"]["threshold"] is not None
    floor = rows[("fixed", "random")]["metrics"]["ndcg@10"]
    real = [r for key, r in rows.items() if key[1] != "random"]
    assert all(r["metrics"]["ndcg@10"] > floor + 0.3 for r in real)
    assert (gate.project / "results" / "retrieval_eval.png").stat().st_size > 1000


def _reproduces_the_shipped_readme(gate: Gate, reported: Reported) -> None:
    """After a fresh evaluation, `make report` writes back the very README shipped:
    the bundled corpus, the bundled weights and the code fix every number in it."""
    assert "updated README.md and docs/retrieval_eval.png" in reported.output
    table = (gate.project / "results" / "retrieval_eval.md").read_text(encoding="utf-8")
    text = reported.after
    missing = [row for row in table.splitlines() if row not in text.splitlines()]
    assert not missing, f"README lacks rows of results/retrieval_eval.md: {missing}"
    shipped = gate.shipped_readme
    diff = difflib.unified_diff(
        shipped.splitlines(), text.splitlines(), "shipped", "reported", lineterm=""
    )
    assert text == shipped, "make report changed the README:\n" + "\n".join(diff)
    # The figure must open, be 840 x 480 (7 x 4 inches at 120 dpi) and hold more
    # than a flat fill.
    stats = figure_stats(gate.project, reported.figure)
    shape, spread, colours = stats["shape"], float(stats["std"]), int(stats["colours"])
    assert shape == [480, 840]
    assert spread > 0.05
    assert colours > 10


def _answers(gate: Gate, base: str) -> None:
    """A good query, bad ones, an off-topic one, /metrics, a bounded load, the
    project's own load test and schemathesis."""
    answered = call(f"{base}/query", {"question": QUESTION})
    invalid = call(f"{base}/query", {"question": "", "top_k": 0})
    unknown = call(f"{base}/query", {"question": QUESTION, "topk": 1})
    off_topic = call(f"{base}/query", {"question": OFF_TOPIC})
    metrics_text = call(f"{base}/metrics")[1]
    load = bounded_load(f"{base}/query", {"question": QUESTION}, requests=200)
    # The project's own load test, whose figures `make report` turns into replicas.
    measured = gate.make("load-test", API_PORT=base.rsplit(":", 1)[1], REQUESTS="40")
    fuzzed = schema_fuzz(base, max_examples=50)

    assert "No issues found" in fuzzed
    recorded = gate.results("load_test.json")
    assert (recorded["requests"], recorded["errors"]) == (40, 0), measured[-2000:]
    assert recorded["requests_per_second"] > 0
    assert answered[0] == 200
    body = json.loads(answered[1])
    assert body["answered"] is True
    assert body["generator"] == "extractive"
    assert "[1]" in body["answer"] or "[2]" in body["answer"]
    assert "**" not in body["answer"]
    sources = body["sources"]
    assert sources[0]["doc_id"] == "kb-23"  # "API authentication and API keys"
    assert all(s["title"] and s["chunk_id"].startswith(s["doc_id"]) for s in sources)
    assert invalid[0] == 422
    assert "question" in invalid[1]
    assert unknown[0] == 422
    assert "topk" in unknown[1]
    abstained = json.loads(off_topic[1])
    assert abstained["answered"] is False
    assert abstained["sources"]  # the closest passages, still shown
    rejected = 'http_requests_total{method="POST",route="/query",status="422"} 2.0'
    assert rejected in metrics_text
    assert "abstentions_total 1.0" in metrics_text
    assert (load["requests"], load["errors"]) == (200, 0)


PROOFS = VariantProofs(
    variant="rag",
    figure="docs/retrieval_eval.png",
    tests_at_least=100,
    # The embedding cache is out of reach too: report reads results/ alone.
    also_away=(".cache",),
    after_step={"ingest": _ingested, "evaluate": _evaluated},
    after_report=_reproduces_the_shipped_readme,
    ready_within_s=180,
    while_serving=_answers,
)

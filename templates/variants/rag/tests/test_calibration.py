"""Choices made on dev questions: the split, the fusion, the abstention threshold, and
the engine and API that use them."""

import json
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.calibration import (
    CALIBRATION,
    load_calibration,
)
from {{ cookiecutter.package_name }}.corpus import (
    load_out_of_scope,
    load_queries,
)
from {{ cookiecutter.package_name }}.embeddings import HashingEmbedder
from {{ cookiecutter.package_name }}.evaluation import (
    bootstrap,
    choose_fusion,
    choose_threshold,
    evaluate,
    mean_ndcg,
    split_queries,
    verdict,
)
from {{ cookiecutter.package_name }}.index import load_index
from {{ cookiecutter.package_name }}.pipeline import (
    IndexMismatchError,
    ingest,
    load_engine,
)
from {{ cookiecutter.package_name }}.retrieval import Fusion

from variant_fixtures import HANDBOOK, hit, rag_settings


def test_the_split_is_seeded_disjoint_and_covers_every_question() -> None:
    ids = [f"q-{n:02d}" for n in range(1, 71)]

    first, again = split_queries(ids, 0.5, 42), split_queries(list(reversed(ids)), 0.5, 42)
    other = split_queries(ids, 0.5, 7)

    assert first == again
    assert other.dev != first.dev
    assert (len(first.dev), len(first.test)) == (35, 35)
    assert sorted(first.dev + first.test) == ids


def test_a_split_needs_two_questions() -> None:
    with pytest.raises(ValueError, match="at least 2 are needed"):
        split_queries(["q-01"], 0.5, 42)


def test_fusion_falls_back_to_the_better_single_retriever_when_fusing_does_not_help() -> None:
    qrels = {f"q{n}": {f"good{n}": 2} for n in range(6)}
    # Dense finds each answer first; BM25 ranks noise above it.
    dense = {q: [hit(f"good{n}", 0.9), hit("noise", 0.2)] for n, q in enumerate(qrels)}
    bm25 = {
        q: [hit("noise", 9.0), hit("other", 8.0), hit(f"good{n}", 1.0)] for n, q in enumerate(qrels)
    }

    fusion, score = choose_fusion(bm25, dense, qrels, list(qrels))

    assert fusion.dense_weight == 1.0
    assert fusion.label() == "dense only"
    assert score == pytest.approx(1.0)


def test_fusion_is_chosen_when_it_beats_both_retrievers_on_dev() -> None:
    qrels = {"a": {"x": 2, "y": 2}, "b": {"x": 2, "y": 2}}
    # Each retriever finds one relevant document first and the other one late.
    filler = [hit(f"f{n}", 0.5) for n in range(12)]
    bm25 = {q: [hit("x", 5.0), *filler, hit("y", 0.1)] for q in qrels}
    dense = {q: [hit("y", 0.9), *filler, hit("x", 0.05)] for q in qrels}

    fusion, _ = choose_fusion(bm25, dense, qrels, list(qrels))

    assert 0.0 < fusion.dense_weight < 1.0


def test_fused_rankings_keep_every_chunk_once_best_first() -> None:
    bm25 = [hit("a", 3.0), hit("b", 2.0), hit("d", 1.0)]
    dense = [hit("b", 0.9), hit("c", 0.1)]

    for fusion in (Fusion("rrf", 0.5), Fusion("minmax", 0.5)):
        fused = fusion.fuse(bm25, dense)
        assert sorted(h.chunk.doc_id for h in fused) == ["a", "b", "c", "d"]
        assert fused[0].chunk.doc_id == "b"  # the only chunk both retrievers found
        assert [h.score for h in fused] == sorted((h.score for h in fused), reverse=True)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.1, 0.2, 0.15, 0.12] * 10, "wins"),
        ([-0.1, -0.2, -0.05] * 10, "loses"),
        ([0.3, -0.3] * 10, "ties"),
    ],
)
def test_only_an_interval_that_excludes_zero_is_a_win_or_a_loss(
    values: list[float], expected: str
) -> None:
    estimate = bootstrap(values, seed=1)

    assert estimate.low <= estimate.value <= estimate.high
    assert verdict(estimate) == expected


def test_the_threshold_separates_answerable_from_out_of_scope_dev_questions() -> None:
    threshold = choose_threshold([0.6, 0.7, 0.8, 0.55], [0.1, 0.2, 0.3])

    assert threshold is not None
    assert 0.3 < threshold < 0.55
    assert choose_threshold([0.6], []) is None


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("calibrated")
    settings = rag_settings(workdir)
    ingest(settings, HashingEmbedder())
    evaluate(settings, HashingEmbedder(), track=False)
    return workdir


def test_evaluate_stores_its_dev_choices_beside_the_index_the_engine_loads(
    calibrated: Path,
) -> None:
    settings = rag_settings(calibrated)
    saved = json.loads((settings.index_dir / CALIBRATION).read_text())
    results = json.loads((settings.results_dir / "retrieval_eval.json").read_text())

    engine = load_engine(settings)

    assert engine.calibration is not None
    assert engine.calibration.abstain_below == saved["abstain_below"]
    assert saved["abstain_below"] == results["abstention"]["threshold"]
    assert engine.calibration.fusion.label() == results["fusion"]["headings"]["choice"]
    threshold = engine.calibration.abstain_below
    assert threshold is not None
    out_of_scope = load_out_of_scope(HANDBOOK).values()
    declined = [q for q in out_of_scope if engine.abstains(q)]
    assert declined == [q for q in out_of_scope if engine.evidence(q) < threshold]
    in_scope = load_queries(HANDBOOK).values()
    answered = [q for q in in_scope if not engine.abstains(q)]
    # The threshold chosen on dev separates the two kinds better than chance.
    assert len(answered) / len(in_scope) > 1 - len(declined) / len(out_of_scope) >= 0
    assert declined


def test_a_calibration_of_another_index_is_ignored(calibrated: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nAlpha text about refunds and invoices.\n")
    settings = rag_settings(tmp_path, corpus_path=corpus)
    ingest(settings, HashingEmbedder())
    (settings.index_dir / CALIBRATION).write_bytes(
        (rag_settings(calibrated).index_dir / CALIBRATION).read_bytes()
    )

    assert load_calibration(settings.index_dir, load_index(settings.index_dir)[1]) is None
    assert load_engine(settings).calibration is None


def test_an_index_of_another_corpus_is_refused_naming_both(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nAlpha text about refunds.\n")
    settings = rag_settings(tmp_path, corpus_path=corpus)
    ingest(settings, HashingEmbedder())
    (corpus / "a.md").write_text("# A\n\nNow about something else.\n")

    with pytest.raises(IndexMismatchError) as raised:
        load_engine(settings)

    message = str(raised.value)
    assert f"was built from {corpus} (sha256 " in message
    assert f"not from CORPUS_PATH={corpus} (sha256 " in message
    assert "make ingest CORPUS=" in message


def test_a_fusion_that_loses_on_most_dev_questions_is_not_chosen() -> None:
    """The issue's failure: fusion won big on a few questions and lost on most."""
    qrels = {f"q{n}": {f"good{n}": 2, f"also{n}": 2} for n in range(5)}
    filler = [hit(f"f{n}", 0.5) for n in range(12)]
    dense = {"q0": [*filler, hit("good0", 0.1)]}  # dense misses q0 entirely
    bm25 = {"q0": [hit("good0", 9.0)]}
    for n in range(1, 5):  # dense ranks both answers first; BM25 puts noise first
        dense[f"q{n}"] = [hit(f"good{n}", 0.9), hit(f"also{n}", 0.8), *filler]
        bm25[f"q{n}"] = [hit("noise", 9.0), hit(f"good{n}", 8.0), hit("junk", 7.0)]
    rrf = Fusion("rrf", 0.5)
    candidates = [Fusion("rrf", 1.0), Fusion("rrf", 0.0), rrf]
    ids = list(qrels)
    fused = {q: rrf.fuse(bm25[q], dense[q]) for q in ids}

    fusion, _ = choose_fusion(bm25, dense, qrels, ids, candidates=candidates)

    # On average the fusion is ahead (one big win), so the mean alone would pick it.
    assert mean_ndcg(fused, qrels, ids) > mean_ndcg(dense, qrels, ids) + 0.05
    assert fusion.label() == "dense only"

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.corpus import CorpusError, corpus_sha256
from {{ cookiecutter.package_name }}.embeddings import HashingEmbedder
from {{ cookiecutter.package_name }}.index import load_index
from {{ cookiecutter.package_name }}.pipeline import ingest, load_engine

from variant_fixtures import Indexed, rag_settings


def test_ingest_writes_an_index_with_its_manifest(indexed: Indexed) -> None:
    index, manifest = load_index(indexed.settings.index_dir)

    assert manifest.documents >= 40
    assert manifest.chunks == len(index.chunks) > manifest.documents
    assert (manifest.embedding_model, manifest.chunking) == ("hashing", "headings")


def test_a_failed_ingest_leaves_the_previous_index_untouched(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nAlpha text about refunds.\n")
    settings = rag_settings(tmp_path, corpus_path=corpus)
    first = ingest(settings, HashingEmbedder())
    (corpus / "b.md").write_bytes(b"# B\n\n\xff\xfe broken\n")

    with pytest.raises(CorpusError, match=r"b\.md is not UTF-8"):
        ingest(settings, HashingEmbedder())

    assert first.chunks_per_second > 0
    assert load_index(settings.index_dir)[1].documents == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "index"]


def test_the_engine_refuses_a_different_query_embedder(indexed: Indexed) -> None:
    class Other(HashingEmbedder):
        name = "other-model"

    with pytest.raises(ValueError, match="built with 'hashing', not 'other-model'"):
        load_engine(indexed.settings, Other())


def test_the_engine_loads_the_embedder_named_in_the_manifest(indexed: Indexed) -> None:
    engine = load_engine(indexed.settings)

    assert engine.embedder.name == "hashing"
    assert set(engine.retrievers) == {"bm25", "dense", "hybrid"}


def test_an_empty_corpus_fails_and_keeps_the_previous_index(tmp_path: Path) -> None:
    """Before: an empty corpus.jsonl exited 0 and replaced the index with 0 chunks."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "corpus.jsonl").write_text('{"_id": "d1", "title": "A", "text": "Refunds."}\n')
    settings = rag_settings(tmp_path, corpus_path=corpus)
    ingest(settings, HashingEmbedder())
    (corpus / "corpus.jsonl").write_text("\n")

    with pytest.raises(CorpusError, match=r"corpus\.jsonl holds no documents"):
        ingest(settings, HashingEmbedder())

    assert load_index(settings.index_dir)[1].chunks == 1


def test_ingest_cleans_staging_folders_a_killed_ingest_left(tmp_path: Path) -> None:
    leftover = tmp_path / ".index.k1ll3d"
    leftover.mkdir()
    (leftover / "chunks.jsonl").write_text("{")

    ingest(rag_settings(tmp_path), HashingEmbedder())

    assert not leftover.exists()


def test_the_manifest_records_the_corpus_it_was_built_from(indexed: Indexed) -> None:
    manifest = load_index(indexed.settings.index_dir)[1]

    assert manifest.corpus_path == str(indexed.settings.corpus_path)
    assert manifest.corpus_sha256 == corpus_sha256(indexed.settings.corpus_path)


def test_judgements_ingest_cannot_read_leave_the_index_built(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only evaluate needs the judgements: a broken qrels file is its error to report."""
    corpus = tmp_path / "corpus"
    (corpus / "qrels").mkdir(parents=True)
    (corpus / "corpus.jsonl").write_text('{"_id": "d1", "title": "A", "text": "Refunds."}\n')
    (corpus / "queries.jsonl").write_text('{"_id": "q1", "text": "refunds?"}\n')
    (corpus / "qrels" / "test.tsv").write_text("q1\td1\n")
    settings = rag_settings(tmp_path, corpus_path=corpus, embedding_cache_dir=tmp_path / "c")

    report = ingest(settings, HashingEmbedder())

    assert (report.chunks, report.evaluation_texts) == (1, 0)
    assert "not embedding the evaluation's texts" in caplog.text
    assert "test.tsv, line 1" in caplog.text

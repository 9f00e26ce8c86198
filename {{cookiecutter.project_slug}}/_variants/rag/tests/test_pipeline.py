from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.corpus import CorpusError
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

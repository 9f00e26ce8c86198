from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.corpus import (
    CorpusError,
    Document,
    data_files,
    load_documents,
    load_qrels,
    load_queries,
)

from variant_fixtures import HANDBOOK


def test_bundled_handbook_has_enough_varied_documents(handbook: list[Document]) -> None:
    assert len(handbook) >= 40
    assert len({document.title for document in handbook}) == len(handbook)
    for document in handbook:
        assert 150 <= len(document.text.split()) <= 600, document.doc_id


def test_every_judgement_names_a_bundled_document_and_a_graded_relevance(
    handbook: list[Document],
) -> None:
    queries = load_queries(HANDBOOK)
    qrels = load_qrels(HANDBOOK)
    doc_ids = {document.doc_id for document in handbook}

    assert len(queries) >= 50
    assert set(qrels) == set(queries)
    for judged in qrels.values():
        assert set(judged) <= doc_ids
        assert set(judged.values()) <= {0, 1, 2}
        assert 2 in judged.values()  # every question has a document that answers it


def test_folder_corpus_reads_markdown_and_text_with_titles(tmp_path: Path) -> None:
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "setup.md").write_text("# Set-up guide\n\nInstall it.\n")
    (tmp_path / "notes.txt").write_text("Plain notes without a heading.\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")

    documents = load_documents(tmp_path)

    assert [(d.doc_id, d.title) for d in documents] == [
        ("guides/setup.md", "Set-up guide"),
        ("notes.txt", "notes"),
    ]


def test_non_utf8_file_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Good\n\nFine.\n")
    (tmp_path / "latin1.md").write_bytes("# Caf\xe9\n".encode("latin-1"))

    with pytest.raises(CorpusError, match=r"latin1\.md is not UTF-8"):
        load_documents(tmp_path)


def test_unreadable_file_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "folder.md").mkdir()  # a directory where a file is expected

    with pytest.raises(CorpusError, match=r"cannot read .*folder\.md"):
        load_documents(tmp_path)


def test_missing_or_empty_folder_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_documents(tmp_path / "nowhere")
    with pytest.raises(CorpusError, match="holds no"):
        load_documents(tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"title": "no id"}', "line 2: expected an object with a string _id"),
        ('{"_id": "d2", "title": "t", "text": ""}', "document d2 needs a string title and text"),
        ('{"_id": "d1", "title": "t", "text": "again"}', "'d1' appears twice"),
    ],
)
def test_malformed_beir_corpus_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    first = '{"_id": "d1", "title": "t", "text": "body"}'
    (tmp_path / "corpus.jsonl").write_text(f"{first}\n{line}\n")

    with pytest.raises(CorpusError, match=message):
        load_documents(tmp_path)


def test_malformed_qrels_row_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n")

    with pytest.raises(CorpusError, match="line 2"):
        load_qrels(tmp_path)


def test_data_files_are_the_beir_files_only(tmp_path: Path) -> None:
    assert set(data_files(HANDBOOK)) == {"corpus", "queries", "qrels"}
    assert data_files(tmp_path) == {}

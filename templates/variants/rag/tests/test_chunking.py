import itertools

import pytest

from {{ cookiecutter.package_name }}.chunking import (
    STRATEGIES,
    chunk_document,
    chunk_documents,
    heading_path_at,
    headings,
)
from {{ cookiecutter.package_name }}.corpus import Document

DOC = Document(
    "guide.md",
    "Guide",
    "# Guide\n\nIntro sentence one. Intro sentence two!\n\n"
    "## Billing\n\nCards are charged monthly. Refunds take five days.\n\n"
    "### Cards\n\nVisa and Mastercard work.\n\n"
    "## Support\n\nWrite to us? We answer fast.\n",
)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_chunk_points_back_into_its_document(strategy: str, handbook: list[Document]) -> None:
    texts = {document.doc_id: document.text for document in handbook}

    chunks = chunk_documents(handbook, strategy, size=500, overlap=100)

    assert chunks
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    for chunk in chunks:
        assert chunk.text == texts[chunk.doc_id][chunk.start : chunk.end]
        assert chunk.text.strip() == chunk.text != ""
        assert chunk.heading_path[0] == chunk.title  # every handbook page opens with its title


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_chunks_cover_every_word_of_the_document(strategy: str) -> None:
    chunks = chunk_document(DOC, strategy, size=60, overlap=20)
    covered: set[int] = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))

    for index, char in enumerate(DOC.text):
        assert char.isspace() or index in covered, (strategy, DOC.text[index:])


def test_fixed_chunks_respect_the_size_and_overlap() -> None:
    chunks = chunk_document(DOC, "fixed", size=60, overlap=20)

    assert all(len(c.text) <= 60 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end  # consecutive windows share text
        assert after.start > before.start


def test_fixed_chunks_never_start_inside_a_word() -> None:
    for chunk in chunk_document(DOC, "fixed", size=60, overlap=20):
        assert chunk.start == 0 or DOC.text[chunk.start - 1].isspace()


def test_heading_chunks_are_sections_with_their_heading_path() -> None:
    chunks = chunk_document(DOC, "headings", size=1000, overlap=0)

    assert [c.heading_path for c in chunks] == [
        ("Guide",),
        ("Guide", "Billing"),
        ("Guide", "Billing", "Cards"),
        ("Guide", "Support"),
    ]
    assert chunks[2].text == "### Cards\n\nVisa and Mastercard work."


def test_long_sections_split_at_paragraphs() -> None:
    body = "\n\n".join(f"Paragraph {n} has several words in it." for n in range(6))
    document = Document("long.md", "Long", f"## Long\n\n{body}\n")

    chunks = chunk_document(document, "headings", size=100, overlap=0)

    assert len(chunks) > 1
    assert all(len(c.text) <= 100 for c in chunks)
    assert all(c.heading_path == ("Long",) for c in chunks)


def test_sentence_chunks_end_at_sentence_boundaries() -> None:
    chunks = chunk_document(DOC, "sentences", size=80, overlap=0)

    assert all(c.text[-1] in ".!?" or c.text.lstrip().startswith("#") for c in chunks)
    assert any("Refunds take five days." in c.text for c in chunks)


def test_heading_path_is_the_chain_of_enclosing_headings() -> None:
    marks = headings(DOC.text)
    support = DOC.text.index("Write to us")

    assert heading_path_at(marks, 0) == ("Guide",)
    assert heading_path_at(marks, DOC.text.index("Visa")) == ("Guide", "Billing", "Cards")
    assert heading_path_at(marks, support) == ("Guide", "Support")


def test_search_text_adds_title_and_headings_once() -> None:
    chunk = chunk_document(DOC, "headings", size=1000, overlap=0)[1]

    assert chunk.search_text().startswith("Guide > Billing\n## Billing")


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_document(DOC, "fixed", size=100, overlap=100)


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="fixed, headings, sentences"):
        chunk_document(DOC, "semantic", size=100, overlap=0)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_one_huge_paragraph_is_split_never_one_giant_chunk(strategy: str) -> None:
    """Before: a 10 MB paragraph became one chunk, returned whole by the API."""
    words = " ".join(f"word{n}" for n in range(60_000))  # ~500k characters, no break
    unbroken = "x" * 5_000  # no space at all: cut, never skipped
    document = Document("big.md", "Big", f"# Big\n\n{words}\n\n{unbroken}\n")

    chunks = chunk_document(document, strategy, 800, 150)

    assert max(len(c.text) for c in chunks) <= 800
    assert all(document.text[c.start : c.end] == c.text for c in chunks)
    covered = "".join(c.text for c in chunks)
    assert "word59999" in covered
    assert covered.count("x") >= 5_000

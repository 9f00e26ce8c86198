"""Three ways to cut documents into chunks, each keeping where the chunk came from.

Every chunk records its document, its character offsets into the document's text
(`text == document.text[start:end]`) and the Markdown heading path it sits under,
so a retrieved chunk can always be cited and shown in context.
"""

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .corpus import Document

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
# A sentence ends at . ! or ? before whitespace, or at a line break (list items, headings).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...]

    def search_text(self) -> str:
        """What retrievers index: the chunk plus the titles that give it context."""
        context = " > ".join(dict.fromkeys((self.title, *self.heading_path)))
        return f"{context}\n{self.text}" if context else self.text


Span = tuple[int, int]


def headings(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, heading text) of every Markdown ATX heading."""
    return [(m.start(), len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(text)]


def heading_path_at(marks: Sequence[tuple[int, int, str]], offset: int) -> tuple[str, ...]:
    """The headings that enclose `offset`, outermost first."""
    path: list[tuple[int, str]] = []
    for position, level, title in marks:
        if position > offset:
            break
        path = [(lvl, name) for lvl, name in path if lvl < level]
        path.append((level, title))
    return tuple(name for _, name in path)


def _trim(text: str, start: int, end: int) -> Span | None:
    """Shrink a span to exclude surrounding whitespace; None when nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def fixed_spans(text: str, size: int, overlap: int) -> list[Span]:
    """Windows of about `size` characters, `overlap` shared, ends moved back to a space."""
    if overlap >= size:
        raise ValueError(f"chunk overlap ({overlap}) must be smaller than chunk size ({size})")
    spans: list[Span] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            space = text.rfind(" ", start + size // 2, end)
            end = space if space > start else end
        if (span := _trim(text, start, end)) is not None:
            spans.append(span)
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
        # Start the next window on a word, not inside one, unless the "word" runs on
        # for half a window (text without spaces): then cut it, never skip it.
        probe, limit = start, min(len(text), start + size // 2)
        while probe < limit and not text[probe - 1].isspace():
            probe += 1
        if probe < limit:
            start = probe
    return spans


def _pack(text: str, pieces: Iterable[Span], size: int) -> list[Span]:
    """Join consecutive pieces into spans of at most `size` characters (a longer piece
    stays whole)."""
    spans: list[Span] = []
    current: Span | None = None
    for piece in pieces:
        if current is not None and piece[1] - current[0] <= size:
            current = (current[0], piece[1])
            continue
        if current is not None:
            spans.append(current)
        current = piece
    if current is not None:
        spans.append(current)
    return [span for s, e in spans if (span := _trim(text, s, e)) is not None]


def sentence_spans(text: str, size: int) -> list[Span]:
    """Whole sentences packed greedily up to `size` characters; a heading always starts a
    new chunk, so no chunk ends with the title of the next section."""
    starts = [0, *(offset for offset, _, _ in headings(text)), len(text)]
    spans: list[Span] = []
    for section_start, section_end in itertools.pairwise(starts):
        pieces: list[Span] = []
        start = section_start
        for match in _SENTENCE_END.finditer(text, section_start, section_end):
            if (span := _trim(text, start, match.start())) is not None:
                pieces.append(span)
            start = match.end()
        if (span := _trim(text, start, section_end)) is not None:
            pieces.append(span)
        spans.extend(_pack(text, pieces, size))
    return spans


def heading_spans(text: str, size: int) -> list[Span]:
    """One chunk per section (a heading and its body); long sections split by paragraph."""
    starts = [0, *(offset for offset, _, _ in headings(text)), len(text)]
    spans: list[Span] = []
    for start, end in itertools.pairwise(starts):
        section = _trim(text, start, end)
        if section is None:
            continue
        body = text[section[0] : section[1]]
        if "\n" not in body and body.lstrip().startswith("#"):
            continue  # a heading with no body: its title is in the next chunk's path
        if section[1] - section[0] <= size:
            spans.append(section)
            continue
        paragraphs = [
            (section[0] + m.start(), section[0] + m.end())
            for m in re.finditer(r"\S(?:.|\n(?!\s*\n))*", body)
        ]
        spans.extend(_pack(text, paragraphs, size))
    return spans


def capped(text: str, spans: Iterable[Span], size: int) -> list[Span]:
    """Spans longer than `size` (one huge paragraph or sentence) cut into windows of
    at most `size`: no chunk, and so no answer, grows with the input."""
    out: list[Span] = []
    for start, end in spans:
        if end - start <= size:
            out.append((start, end))
            continue
        out.extend((start + s, start + e) for s, e in fixed_spans(text[start:end], size, 0))
    return out


Strategy = Callable[[str, int, int], list[Span]]

STRATEGIES: dict[str, Strategy] = {
    "fixed": fixed_spans,
    "headings": lambda text, size, _overlap: heading_spans(text, size),
    "sentences": lambda text, size, _overlap: sentence_spans(text, size),
}


def chunk_document(document: Document, strategy: str, size: int, overlap: int) -> list[Chunk]:
    try:
        split = STRATEGIES[strategy]
    except KeyError:
        known = ", ".join(STRATEGIES)
        raise ValueError(f"unknown chunking strategy {strategy!r}; choose one of {known}") from None
    marks = headings(document.text)
    return [
        Chunk(
            chunk_id=f"{document.doc_id}#{number}",
            doc_id=document.doc_id,
            title=document.title,
            text=document.text[start:end],
            start=start,
            end=end,
            heading_path=heading_path_at(marks, start),
        )
        for number, (start, end) in enumerate(
            capped(document.text, split(document.text, size, overlap), size)
        )
    ]


def chunk_documents(
    documents: Iterable[Document], strategy: str, size: int, overlap: int
) -> list[Chunk]:
    return [
        chunk
        for document in documents
        for chunk in chunk_document(document, strategy, size, overlap)
    ]

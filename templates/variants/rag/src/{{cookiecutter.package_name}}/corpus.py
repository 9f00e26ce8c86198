"""Documents, questions and relevance judgements from disk.

Two layouts are read: a BEIR folder (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`),
so the same commands run on any BEIR dataset, and a plain folder of Markdown or text files.
"""

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = (".md", ".markdown", ".txt")


class CorpusError(Exception):
    """A corpus file is missing, unreadable or malformed; the message names the file."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path} is not UTF-8 text (invalid byte at offset {exc.start}); "
            "re-save it as UTF-8 or remove it from the corpus"
        ) from exc


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def is_beir(path: Path) -> bool:
    return (path / "corpus.jsonl").is_file()


def load_folder(folder: Path) -> list[Document]:
    """Every .md/.markdown/.txt file below `folder`; the id is its relative path."""
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        raise CorpusError(f"{folder} holds no {'/'.join(TEXT_SUFFIXES)} files")
    documents = []
    for path in files:
        text = _read_text(path)
        doc_id = path.relative_to(folder).as_posix()
        documents.append(Document(doc_id, _title(text, path.stem), text))
    return documents


def _jsonl(path: Path) -> list[dict[str, object]]:
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not isinstance(row.get("_id"), str):
            raise CorpusError(f"{path}, line {number}: expected an object with a string _id")
        rows.append(row)
    return rows


def load_beir_corpus(folder: Path) -> list[Document]:
    path = folder / "corpus.jsonl"
    documents = []
    for row in _jsonl(path):
        title, text = row.get("title", ""), row.get("text", "")
        if not isinstance(title, str) or not isinstance(text, str) or not text.strip():
            raise CorpusError(f"{path}: document {row['_id']} needs a string title and text")
        documents.append(Document(str(row["_id"]), title, text))
    if not documents:
        raise CorpusError(f"{path} holds no documents: add one JSON object per line")
    return documents


def load_documents(path: Path) -> list[Document]:
    """A BEIR corpus when `path` holds corpus.jsonl, else a folder of text files."""
    documents = load_beir_corpus(path) if is_beir(path) else load_folder(path)
    seen: set[str] = set()
    for document in documents:
        if document.doc_id in seen:
            raise CorpusError(f"{path}: document id {document.doc_id!r} appears twice")
        seen.add(document.doc_id)
    return documents


def load_queries(folder: Path) -> dict[str, str]:
    return {str(row["_id"]): str(row.get("text", "")) for row in _jsonl(folder / "queries.jsonl")}


OUT_OF_SCOPE = "out_of_scope.jsonl"


def load_out_of_scope(folder: Path) -> dict[str, str]:
    """Questions the corpus does not answer (`out_of_scope.jsonl`, optional): what the
    abstention threshold is chosen and tested on."""
    path = folder / OUT_OF_SCOPE
    if not path.is_file():
        return {}
    return {str(row["_id"]): str(row.get("text", "")) for row in _jsonl(path)}


def corpus_files(path: Path) -> list[Path]:
    """The files the documents are read from, in a stable order."""
    if is_beir(path):
        return [path / "corpus.jsonl"]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)


def corpus_sha256(path: Path) -> str:
    """Content hash of the documents (names and bytes), independent of where they lie:
    what an index and every result record, so results from other data are recognised."""
    digest = hashlib.sha256()
    for file in corpus_files(path):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        try:
            with file.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        except OSError as exc:
            raise CorpusError(f"cannot read {file}: {exc.strerror or exc}") from exc
        digest.update(b"\0")
    return digest.hexdigest()


def load_qrels(folder: Path, split: str = "test") -> dict[str, dict[str, int]]:
    """{query id: {document id: graded relevance}} from a BEIR qrels TSV."""
    path = folder / "qrels" / f"{split}.tsv"
    qrels: dict[str, dict[str, int]] = {}
    rows = csv.reader(_read_text(path).splitlines(), delimiter="\t")
    for number, row in enumerate(rows, 1):
        if number == 1 and row and row[0] == "query-id":
            continue
        try:
            query_id, doc_id, score = row
            qrels.setdefault(query_id, {})[doc_id] = int(score)
        except ValueError as exc:
            message = f"{path}, line {number}: expected query-id, corpus-id, score"
            raise CorpusError(message) from exc
    return qrels


def data_files(path: Path) -> dict[str, Path]:
    """The files whose hashes an evaluation run records."""
    if not is_beir(path):
        return {}
    candidates = {
        "corpus": path / "corpus.jsonl",
        "queries": path / "queries.jsonl",
        "qrels": path / "qrels" / "test.tsv",
    }
    return {name: file for name, file in candidates.items() if file.is_file()}

"""The default vector store: exact cosine search over a numpy matrix, saved to a folder.

An index folder holds `chunks.jsonl`, `vectors.npy` and `manifest.json`. It is written
to a temporary sibling folder first and renamed into place, so an ingest that fails
half way leaves the previous index untouched and never a half-written one (ADR 0005).
"""

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .chunking import Chunk
from .embeddings import Vectors
from .platform.files import staged_directory

# 2: the manifest records the corpus (path and content hash) it was built from.
FORMAT_VERSION = 2


class IndexNotFoundError(Exception):
    """No usable index at the configured path; the message says how to build one."""


class CorruptIndexError(IndexNotFoundError):
    """An index folder that cannot be read back; the message names the file."""


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    score: float


class VectorStore(Protocol):
    """What the dense retriever needs; the numpy index and pgvector both provide it."""

    def search(self, query: Vectors, k: int) -> list[ScoredChunk]: ...


@dataclass(frozen=True)
class Manifest:
    embedding_model: str
    dimension: int
    chunking: str
    chunk_size: int
    chunk_overlap: int
    documents: int
    chunks: int
    corpus_path: str = ""
    corpus_sha256: str = ""
    format_version: int = FORMAT_VERSION


class NumpyIndex:
    """Brute-force inner product over unit vectors: exact, and ~1 ms for 10k chunks."""

    def __init__(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        if len(chunks) != vectors.shape[0]:
            raise ValueError(f"{len(chunks)} chunks but {vectors.shape[0]} vectors")
        self.chunks = list(chunks)
        self.vectors = vectors

    def search(self, query: Vectors, k: int) -> list[ScoredChunk]:
        if not self.chunks:
            return []
        scores = self.vectors @ query.reshape(-1)
        k = min(k, len(self.chunks))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [ScoredChunk(self.chunks[i], float(scores[i])) for i in top]


def chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    return asdict(chunk) | {"heading_path": list(chunk.heading_path)}


def chunk_from_json(row: dict[str, Any]) -> Chunk:
    return Chunk(**(row | {"heading_path": tuple(row["heading_path"])}))


def save_index(directory: Path, index: NumpyIndex, manifest: Manifest) -> None:
    """Write the index into a staging folder, then swap it in whole (shared `files`)."""
    with staged_directory(directory) as staging:
        with (staging / "chunks.jsonl").open("w", encoding="utf-8") as handle:
            for chunk in index.chunks:
                handle.write(json.dumps(chunk_to_json(chunk), ensure_ascii=False) + "\n")
        np.save(staging / "vectors.npy", index.vectors, allow_pickle=False)
        # The manifest is written last: a folder without one is never a finished index.
        (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2) + "\n")


def remove_stale_staging(directory: Path) -> list[Path]:
    """Delete the hidden `.index.*` folders an ingest killed mid-write left beside the
    index (the staging prefix of `files.staged_directory`); returns what went."""
    stale = [
        path
        for path in directory.parent.glob(f".{directory.name}.*")
        if path.is_dir() and not path.is_symlink()
    ]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def load_index(directory: Path) -> tuple[NumpyIndex, Manifest]:
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise IndexNotFoundError(f"no index at {directory}: run `make ingest` first")
    again = "run `make ingest` again"
    try:
        manifest = Manifest(**json.loads(manifest_path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise CorruptIndexError(
            f"{manifest_path} is not an index manifest ({exc}): {again}"
        ) from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexNotFoundError(
            f"{directory} was written by another version (format {manifest.format_version}); "
            "run `make ingest` again"
        )
    chunks = _read_chunks(directory / "chunks.jsonl", again)
    vectors_path = directory / "vectors.npy"
    try:
        vectors = np.load(vectors_path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptIndexError(f"{vectors_path} cannot be read ({exc}): {again}") from exc
    if vectors.ndim != 2 or vectors.shape != (len(chunks), manifest.dimension):
        raise CorruptIndexError(
            f"{vectors_path} holds an array of shape {vectors.shape} for {len(chunks)} chunks "
            f"of dimension {manifest.dimension}: {again}"
        )
    if not np.isfinite(vectors).all():
        rows = int((~np.isfinite(vectors).all(axis=1)).sum())
        raise CorruptIndexError(
            f"{vectors_path} holds non-finite values (NaN or infinity) in {rows} rows: {again}"
        )
    return NumpyIndex(chunks, vectors.astype(np.float32)), manifest


def _read_chunks(path: Path, again: str) -> list[Chunk]:
    chunks = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    chunks.append(chunk_from_json(json.loads(line)))
                except (ValueError, KeyError, TypeError) as exc:
                    raise CorruptIndexError(f"{path}, line {number}: {exc!r}: {again}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptIndexError(f"{path} cannot be read ({exc}): {again}") from exc
    return chunks

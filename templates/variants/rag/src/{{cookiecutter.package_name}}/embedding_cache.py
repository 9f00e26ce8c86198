"""Embeddings kept on disk by (model, text), so each text is embedded once per model.

Ingest and evaluation embed largely the same texts: evaluation follows ingest, and the
three chunkings share most of their text. The cache turns those repeats into reads.
Each call that embeds something new adds one shard (`<hash>.npz`: keys and vectors),
written atomically, so a crash never leaves a half-written shard behind.
"""

import hashlib
import logging
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .embeddings import Embedder, OnBatch, Vectors, encode_batched
from .platform.files import atomic_path

logger = logging.getLogger(__name__)


def text_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def model_folder(root: Path, model: str) -> Path:
    """One folder per model: readable name plus a hash, so two names never collide."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[-60:]
    return root / f"{readable}-{hashlib.sha256(model.encode()).hexdigest()[:12]}"


class EmbeddingCache:
    """Vectors of one model, read from every shard in its folder once, on first use."""

    def __init__(self, root: Path, model: str, dimension: int | None = None) -> None:
        self.folder = model_folder(root, model)
        # Unknown until a shard is read or a vector stored: the model may not be loaded.
        self.dimension = dimension
        self._vectors: dict[str, Vectors] | None = None

    def _load(self) -> dict[str, Vectors]:
        if self._vectors is None:
            self._vectors = {}
            for shard in sorted(self.folder.glob("*.npz")):
                self._read_shard(shard, self._vectors)
        return self._vectors

    def _read_shard(self, shard: Path, into: dict[str, Vectors]) -> None:
        try:
            with np.load(shard, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            # A cache is only a shortcut: an unreadable shard is re-embedded, not fatal.
            logger.warning("skipping unreadable embedding cache shard %s (%s)", shard.name, exc)
            return
        if self.dimension is None and vectors.ndim == 2:
            self.dimension = int(vectors.shape[1])
        if vectors.ndim != 2 or vectors.shape != (len(keys), self.dimension):
            logger.warning("skipping embedding cache shard %s of another shape", shard.name)
            return
        if not np.isfinite(vectors).all():
            logger.warning("skipping embedding cache shard %s with non-finite values", shard.name)
            return
        for key, row in zip(keys.tolist(), vectors.astype(np.float32), strict=True):
            into[str(key)] = row

    def get(self, key: str) -> Vectors | None:
        return self._load().get(key)

    def known_dimension(self) -> int | None:
        """The shards' vector length (read once), or None while the cache is empty."""
        self._load()
        return self.dimension

    def put(self, keys: Sequence[str], vectors: Vectors) -> None:
        known = self._load()
        if self.dimension is None:
            self.dimension = int(vectors.shape[1])
        for key, row in zip(keys, vectors, strict=True):
            known[key] = row
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.folder / f"{name}.npz") as tmp, tmp.open("wb") as handle:
            np.savez(handle, keys=np.array(list(keys)), vectors=vectors)


class CachingEmbedder:
    """An embedder that embeds only texts it has not seen, in batches; vectors are kept
    in memory and, with a cache, on disk. `on_batch` follows each batch it embeds."""

    def __init__(
        self,
        inner: Embedder,
        cache: EmbeddingCache | None = None,
        batch_size: int = 32,
        *,
        on_batch: OnBatch | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache = cache
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.embedded = 0  # texts actually sent to the model, for reports and tests
        self._memory: dict[str, Vectors] = {}

    @property
    def dimension(self) -> int:
        """From the cache when it knows, so a fully cached run never loads the model."""
        known = self.cache.known_dimension() if self.cache is not None else None
        return known if known is not None else self.inner.dimension

    def _lookup(self, key: str) -> Vectors | None:
        found = self._memory.get(key)
        if found is None and self.cache is not None:
            found = self.cache.get(key)
            if found is not None:
                self._memory[key] = found
        return found

    def missing(self, texts: Sequence[str]) -> int:
        """How many distinct texts `encode` would send to the model: a progress bar's total."""
        keys = {text_key(self.name, text) for text in texts}
        return sum(self._lookup(key) is None for key in keys)

    def encode(self, texts: Sequence[str], label: str = "texts") -> Vectors:
        keys = [text_key(self.name, text) for text in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in missing and self._lookup(key) is None:
                missing[key] = text
        # DEBUG, not INFO: a search embeds one question at a time, and a line per
        # question would bury the command's progress bar and summary.
        logger.debug(
            "embedding %d of %d %s (%d cached)",
            len(missing),
            len(texts),
            label,
            len(texts) - len(missing),
        )
        if missing:
            vectors = encode_batched(
                self.inner,
                list(missing.values()),
                self.batch_size,
                label=label,
                on_batch=self.on_batch,
            )
            self.embedded += len(missing)
            self._memory.update(zip(missing, vectors, strict=True))
            if self.cache is not None:
                self.cache.put(list(missing), vectors)
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._memory[key] for key in keys]).astype(np.float32)


def caching_embedder(embedder: Embedder, root: Path | None, batch_size: int) -> CachingEmbedder:
    cache = EmbeddingCache(root, embedder.name) if root else None
    return CachingEmbedder(embedder, cache, batch_size)

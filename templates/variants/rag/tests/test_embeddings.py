import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.embeddings import (
    HashingEmbedder,
    SentenceTransformerEmbedder,
    UnknownModelError,
    Vectors,
    encode_batched,
    load_embedder,
    progress_bar,
    quiet_model_loading,
    resolve_model,
)
from {{ cookiecutter.package_name }}.platform.logs import configure_logging


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    texts = ["refund a yearly plan", "API rate limits", ""]

    first = HashingEmbedder().encode(texts)
    second = HashingEmbedder().encode(texts)

    assert first.dtype == np.float32
    assert first.shape == (3, 384)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first[:2], axis=1), 1.0, rtol=1e-5)


def test_hashing_embedder_puts_shared_words_closer() -> None:
    query, near, far = HashingEmbedder().encode(
        ["refund for a yearly plan", "yearly plan refund rules", "webhook signature secret"]
    )

    assert float(query @ near) > float(query @ far)


def test_batched_encoding_equals_one_batch() -> None:
    embedder = HashingEmbedder()
    texts = [f"text number {n}" for n in range(10)]

    np.testing.assert_array_equal(
        encode_batched(embedder, texts, batch_size=3, progress=True), embedder.encode(texts)
    )
    assert encode_batched(embedder, [], batch_size=3).shape == (0, 384)


def test_minilm_names_resolve_to_the_bundled_weights(tmp_path: Path) -> None:
    resolved = Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))

    assert (resolved / "config.json").is_file()
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert isinstance(load_embedder("hashing"), HashingEmbedder)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("/no/such/model-folder", "EMBEDDING_MODEL=/no/such/model-folder is not a folder"),
        ("someone/no-such-model-xyz", "is not downloaded and HF_HUB_OFFLINE is set"),
    ],
)
def test_an_unknown_model_fails_at_once_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, model: str, message: str
) -> None:
    """Before: sentence-transformers retried the hub for a minute before failing."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(UnknownModelError, match=message) as raised:
        load_embedder(model)

    assert "all-MiniLM-L6-v2" in str(raised.value)


def test_non_finite_vectors_are_refused_when_embedded() -> None:
    class Broken(HashingEmbedder):
        name = "broken"

        def encode(self, texts: Sequence[str]) -> Vectors:
            vectors = super().encode(texts)
            vectors[-1, 0] = np.nan
            return vectors

    message = r"broken returned non-finite values for text 2 of this pass \(.c d.\)"
    with pytest.raises(ValueError, match=message):
        encode_batched(Broken(), ["a b", "c d", "e f"], batch_size=2)


@pytest.mark.slow
def test_minilm_embeds_paraphrases_closer_than_unrelated_text() -> None:
    embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2")

    question, paraphrase, unrelated = embedder.encode(
        [
            "How do I get my money back?",
            "Refunds are paid to the original card.",
            "Webhooks are signed with HMAC-SHA256.",
        ]
    )

    assert embedder.dimension == 384
    assert float(question @ paraphrase) > float(question @ unrelated)
    np.testing.assert_allclose(np.linalg.norm(question), 1.0, rtol=1e-5)


@pytest.fixture
def library_loggers() -> Iterator[logging.Logger]:
    root, library = logging.getLogger(), logging.getLogger("sentence_transformers")
    levels = root.level, library.level
    yield library
    root.setLevel(levels[0])
    library.setLevel(levels[1])
    from transformers.utils import logging as transformers_logging

    transformers_logging.enable_progress_bar()


@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("DEBUG", True)])
def test_loading_a_model_is_quiet_unless_debugging(
    library_loggers: logging.Logger, level: str, shown: bool
) -> None:
    """Before: `make ingest` printed the model's device and path as JSON INFO lines and
    drew a "Loading weights" bar beside its own."""
    from transformers.utils import logging as transformers_logging

    configure_logging(level)

    quiet_model_loading()

    assert library_loggers.isEnabledFor(logging.INFO) is shown
    assert transformers_logging.is_progress_bar_enabled() is shown


def test_a_bar_is_silent_when_not_asked_for() -> None:
    with progress_bar(3, "ingest", "text", show=False) as bar:
        assert bar.disable

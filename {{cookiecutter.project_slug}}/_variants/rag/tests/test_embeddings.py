from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.embeddings import (
    HashingEmbedder,
    SentenceTransformerEmbedder,
    encode_batched,
    load_embedder,
    resolve_model,
)


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


def test_minilm_names_resolve_to_the_bundled_weights() -> None:
    resolved = Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))

    assert (resolved / "config.json").is_file()
    assert resolve_model("/models/my-model") == "/models/my-model"
    assert isinstance(load_embedder("hashing"), HashingEmbedder)


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

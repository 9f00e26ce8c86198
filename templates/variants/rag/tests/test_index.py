import json
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.embeddings import HashingEmbedder
from {{ cookiecutter.package_name }}.index import (
    CorruptIndexError,
    IndexNotFoundError,
    Manifest,
    NumpyIndex,
    load_index,
    remove_stale_staging,
    save_index,
)

from variant_fixtures import chunk

MANIFEST = Manifest("hashing", 384, "fixed", 800, 150, 3, 3)


def small_index() -> NumpyIndex:
    chunks = [chunk("a", text="refund policy"), chunk("b", text="api keys"), chunk("c")]
    return NumpyIndex(chunks, HashingEmbedder().encode([c.text for c in chunks]))


def test_search_returns_the_exact_top_k_by_cosine() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = NumpyIndex([chunk(f"d{n}") for n in range(50)], vectors)
    query = vectors[7] + 0.1 * vectors[3]

    hits = index.search(query.astype(np.float32), 5)

    expected = np.argsort(-(vectors @ query))[:5]
    assert [h.chunk.doc_id for h in hits] == [f"d{n}" for n in expected]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_of_an_empty_index_or_large_k_is_safe() -> None:
    empty = NumpyIndex([], np.zeros((0, 4), dtype=np.float32))
    assert empty.search(np.ones(4, dtype=np.float32), 3) == []
    assert len(small_index().search(HashingEmbedder().encode(["x"])[0], 10)) == 3


def test_chunks_and_vectors_must_pair_up() -> None:
    with pytest.raises(ValueError, match="2 chunks but 1 vectors"):
        NumpyIndex([chunk("a"), chunk("b")], np.zeros((1, 4), dtype=np.float32))


def test_saved_index_loads_back_identical(tmp_path: Path) -> None:
    index = small_index()

    save_index(tmp_path / "index", index, MANIFEST)
    loaded, manifest = load_index(tmp_path / "index")

    assert manifest == MANIFEST
    assert loaded.chunks == index.chunks
    np.testing.assert_array_equal(loaded.vectors, index.vectors)


def test_failed_write_keeps_the_previous_index_and_leaves_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_index(tmp_path / "index", small_index(), MANIFEST)

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_index(tmp_path / "index", NumpyIndex([], np.zeros((0, 384), np.float32)), MANIFEST)

    assert [p.name for p in tmp_path.iterdir()] == ["index"]
    assert load_index(tmp_path / "index")[1] == MANIFEST


def test_rewriting_an_index_replaces_it_whole(tmp_path: Path) -> None:
    save_index(tmp_path / "index", small_index(), MANIFEST)
    one = NumpyIndex([chunk("z")], HashingEmbedder().encode(["z"]))

    save_index(tmp_path / "index", one, MANIFEST)

    assert [c.doc_id for c in load_index(tmp_path / "index")[0].chunks] == ["z"]
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


def test_missing_index_says_to_ingest(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="make ingest"):
        load_index(tmp_path / "index")


def test_index_from_another_format_version_is_refused(tmp_path: Path) -> None:
    save_index(tmp_path / "index", small_index(), MANIFEST)
    manifest = tmp_path / "index" / "manifest.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"format_version": 99}))

    with pytest.raises(IndexNotFoundError, match="format 99"):
        load_index(tmp_path / "index")


CORRUPTIONS = {
    "manifest-not-json": ("manifest.json", b"{not json"),
    "manifest-not-a-mapping": ("manifest.json", b"[1, 2]"),
    "manifest-missing-fields": ("manifest.json", b"{}"),
    "chunk-line-cut": ("chunks.jsonl", None),
    "chunks-not-utf8": ("chunks.jsonl", b"\xff\xfe\n"),
    "vectors-truncated": ("vectors.npy", None),
    "vectors-not-npy": ("vectors.npy", b"not an array"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_corrupt_index_is_refused_naming_the_file(tmp_path: Path, corruption: str) -> None:
    save_index(tmp_path / "index", small_index(), MANIFEST)
    name, content = CORRUPTIONS[corruption]
    target = tmp_path / "index" / name
    if content is None:  # cut the file in half, as a full disk or a killed copy would
        data = target.read_bytes()
        content = data[: len(data) // 2]
    target.write_bytes(content)

    with pytest.raises(CorruptIndexError, match="make ingest") as error:
        load_index(tmp_path / "index")

    assert name in str(error.value)


def test_vectors_that_do_not_match_the_chunks_are_refused(tmp_path: Path) -> None:
    save_index(tmp_path / "index", small_index(), MANIFEST)
    np.save(tmp_path / "index" / "vectors.npy", np.zeros((2, 384), dtype=np.float32))

    with pytest.raises(CorruptIndexError, match=r"shape \(2, 384\) for 3 chunks"):
        load_index(tmp_path / "index")


def test_non_finite_vectors_are_refused_naming_the_file(tmp_path: Path) -> None:
    save_index(tmp_path / "index", small_index(), MANIFEST)
    vectors = np.load(tmp_path / "index" / "vectors.npy")
    vectors[1, 5] = np.inf
    np.save(tmp_path / "index" / "vectors.npy", vectors)

    with pytest.raises(CorruptIndexError, match=r"vectors\.npy holds non-finite values .* 1 rows"):
        load_index(tmp_path / "index")


def test_stale_staging_folders_beside_the_index_are_removed(tmp_path: Path) -> None:
    save_index(tmp_path / "index", small_index(), MANIFEST)
    stale = [tmp_path / ".index.abc123", tmp_path / ".index.previous"]
    for folder in stale:
        folder.mkdir()
        (folder / "vectors.npy").write_bytes(b"half written")
    (tmp_path / ".indexes-of-someone-else").mkdir()

    removed = remove_stale_staging(tmp_path / "index")

    assert sorted(removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".indexes-of-someone-else", "index"]

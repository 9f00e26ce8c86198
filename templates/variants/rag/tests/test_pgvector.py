from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.pgvector import (
    PgVectorStore,
    schema_sql,
    search_sql,
    table_name,
    upsert_sql,
    vector_literal,
)

from variant_fixtures import chunk


class RecordingCursor:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.executed: list[tuple[str, Sequence[Any]]] = []

    def execute(self, query: str, params: Sequence[Any] = ()) -> None:
        self.executed.append((query, params))

    def executemany(self, query: str, params_seq: Sequence[Sequence[Any]]) -> None:
        self.executed.extend((query, params) for params in params_seq)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class RecordingConnection:
    def __init__(self, rows: list[tuple[Any, ...]] | None = None) -> None:
        self.cursor_ = RecordingCursor(rows or [])
        self.commits = 0

    def cursor(self) -> RecordingCursor:
        return self.cursor_

    def commit(self) -> None:
        self.commits += 1


def test_schema_creates_the_extension_a_typed_vector_column_and_an_hnsw_index() -> None:
    extension, table, index = schema_sql("chunks", 384)

    assert extension == "CREATE EXTENSION IF NOT EXISTS vector"
    assert "embedding vector(384) NOT NULL" in table
    assert "heading_path text[]" in table
    assert "USING hnsw (embedding vector_cosine_ops)" in index


def test_search_orders_by_cosine_distance_with_bound_parameters() -> None:
    sql = search_sql("chunks")

    assert "ORDER BY embedding <=> %s::vector LIMIT %s" in sql
    assert "1 - (embedding <=> %s::vector) AS score" in sql


def test_upsert_replaces_a_chunk_with_the_same_id() -> None:
    sql = upsert_sql("chunks")

    assert sql.count("%s") == 8
    assert "ON CONFLICT (chunk_id) DO UPDATE SET doc_id = EXCLUDED.doc_id" in sql
    assert "embedding = EXCLUDED.embedding" in sql


@pytest.mark.parametrize("name", ["chunks; DROP TABLE users", "Chunks", "1chunks", ""])
def test_table_names_that_could_inject_sql_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="table name"):
        table_name(name)


def test_vector_literal_is_pgvector_text_form() -> None:
    assert vector_literal(np.array([0.5, -1.0, 1e-8], dtype=np.float32)) == "[0.5,-1,1e-08]"


def test_store_creates_schema_and_upserts_each_chunk() -> None:
    connection = RecordingConnection()
    store = PgVectorStore(connection, "kb")
    chunks = [chunk("a"), chunk("b")]

    store.create(2)
    store.add(chunks, np.eye(2, dtype=np.float32))

    statements = [sql for sql, _ in connection.cursor_.executed]
    assert statements[:3] == schema_sql("kb", 2)
    assert statements[3:] == [upsert_sql("kb")] * 2
    assert connection.cursor_.executed[3][1] == ("a#0", "a", "A", "text", 0, 4, [], "[1,0]")
    assert connection.commits == 2


def test_store_refuses_unpaired_chunks_and_vectors() -> None:
    with pytest.raises(ValueError, match="1 chunks but 2 vectors"):
        PgVectorStore(RecordingConnection()).add([chunk("a")], np.eye(2, dtype=np.float32))


def test_store_search_returns_scored_chunks_from_rows() -> None:
    row = ("kb-01#2", "kb-01", "Refunds", "Yearly plans...", 10, 25, ["Refunds", "Yearly"], 0.83)
    connection = RecordingConnection([row])

    hits = PgVectorStore(connection).search(np.array([1.0, 0.0], dtype=np.float32), 3)

    assert connection.cursor_.executed == [(search_sql("chunks"), ("[1,0]", "[1,0]", 3))]
    assert hits[0].score == pytest.approx(0.83)
    assert hits[0].chunk.heading_path == ("Refunds", "Yearly")
    assert (hits[0].chunk.start, hits[0].chunk.end) == (10, 25)

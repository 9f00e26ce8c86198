"""Postgres + pgvector: the scale-out vector store behind the same `search` interface.

The SQL is built by pure functions and run through any DB-API connection, so it is
unit-tested here with a recording fake; running it against a real server is left to
`docker compose up postgres` and the `postgres` extra (see ADR 0005).
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
    def __init__(self, connection: Connection, table: str = "chunks") -> None:
        self.connection = connection
        self.table = table_name(table)

    def create(self, dimension: int) -> None:
        cursor = self.connection.cursor()
        for statement in schema_sql(self.table, dimension):
            cursor.execute(statement)
        self.connection.commit()

    def add(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        cursor = self.connection.cursor()
        statement = upsert_sql(self.table)
        for chunk, vector in zip(chunks, vectors, strict=True):
            cursor.execute(
                statement,
                (
                    chunk.chunk_id,
                    chunk.doc_id,
                    chunk.title,
                    chunk.text,
                    chunk.start,
                    chunk.end,
                    list(chunk.heading_path),
                    vector_literal(vector),
                ),
            )
        self.connection.commit()

    def search(self, query: Vectors, k: int) -> list[ScoredChunk]:
        cursor = self.connection.cursor()
        literal = vector_literal(query)
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
            for row in cursor.fetchall()
        ]


def connect(dsn: str, table: str) -> PgVectorStore:  # pragma: no cover - needs a server
    """Open a store on a live server (`uv sync --extra postgres`)."""
    import psycopg

    return PgVectorStore(psycopg.connect(dsn), table)

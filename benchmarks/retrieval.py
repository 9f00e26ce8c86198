"""Retrieval speed of the rag variant's own index and BM25, against plain baselines.

Bakes the rag variant into a temporary folder, installs it (torch from the local CPU
wheel, as the template's tests do), then runs a measuring snippet inside the
project's environment that imports the project's code and times, at each size:
- dense search: the project's `NumpyIndex.search` (argpartition, then sort the top k)
  against the plain `np.argsort(-(M @ q))[:k]` over the same matrix;
- BM25: the project's `BM25Retriever.search` (sparse postings, numpy accumulation)
  against a per-query loop over every chunk's term counts, the way one writes BM25
  from the formula; both use the project's tokenizer and the same k1, b and idf;
- build: ingest throughput (the project's batched embedding with the hashing
  embedder, then its atomic index write) and the BM25 build, project vs naive.

Texts are synthetic (Zipf-distributed words, 40-80 per chunk, seeded) and the
embedder is the project's hashing embedder at 384 dimensions, so no model is needed:
the figures are about the index and BM25, not about embedding quality or speed.

    uv run python benchmarks/retrieval.py [--sizes 1000,10000,100000] [--queries 200]
                                          [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baking import bake_and_install

# Runs inside the baked project: `python -c MEASURE <package> <json arguments>`.
MEASURE = r"""
import collections, importlib, json, math, sys, tempfile, time
from pathlib import Path
import numpy as np

package, args = sys.argv[1], json.loads(sys.argv[2])
bench = importlib.import_module(f"{package}.benchmark")
bm25_mod = importlib.import_module(f"{package}.bm25")
Chunk = importlib.import_module(f"{package}.chunking").Chunk
HashingEmbedder = importlib.import_module(f"{package}.embeddings").HashingEmbedder
index_mod = importlib.import_module(f"{package}.index")
embed_chunks = importlib.import_module(f"{package}.pipeline").embed_chunks
BM25Retriever = importlib.import_module(f"{package}.retrieval").BM25Retriever
tokenize = bm25_mod.tokenize
K, K1, B = 10, 1.2, 0.75
rng = np.random.default_rng(0)
VOCAB = [f"w{i}x" for i in range(30_000)]  # no trailing s: tokenize keeps each word
weights = 1.0 / np.arange(1, len(VOCAB) + 1) ** 1.1
weights /= weights.sum()


def text(words):
    return " ".join(VOCAB[i] for i in rng.choice(len(VOCAB), size=words, p=weights))


def timed(fn, items, budget_s=None):
    times = []
    started = time.perf_counter()
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - t0) * 1000)
        spent = time.perf_counter() - started
        if budget_s is not None and spent > budget_s and len(times) >= 10:
            break
    return times, None


def stats(times):
    p50, p95 = bench.percentile(times, 50), bench.percentile(times, 95)
    return {"p50": p50, "p95": p95, "n": len(times)}


class NaiveBM25:
    # Term counts per chunk and document frequencies; each query loops over every chunk.
    def __init__(self, texts):
        self.docs = [collections.Counter(tokenize(t)) for t in texts]
        self.lengths = [sum(c.values()) for c in self.docs]
        self.avg = sum(self.lengths) / len(self.lengths)
        df = collections.Counter(term for counts in self.docs for term in counts)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, query, k):
        terms = tokenize(query)
        scores = []
        for counts, length in zip(self.docs, self.lengths):
            score = 0.0
            for term in terms:
                tf = counts.get(term, 0)
                if tf:
                    norm = K1 * (1 - B + B * length / self.avg)
                    score += self.idf[term] * tf * (K1 + 1) / (tf + norm)
            scores.append(score)
        top = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
        return [scores[i] for i in top if scores[i] > 0]


def same_scores(a, b):
    close = np.allclose(sorted(a), sorted(b), rtol=1e-5, atol=1e-6)
    return len(a) == len(b) and bool(close)


out = []
embedder = HashingEmbedder(384)
queries = [text(int(rng.integers(3, 8))) for _ in range(args["queries"])]
query_vectors = embedder.encode(queries)
for size in args["sizes"]:
    chunks = []
    for i in range(size):
        body = text(int(rng.integers(40, 81)))
        chunks.append(Chunk(f"s{i}#0", f"s{i}", "", body, 0, len(body), ()))
    row = {"chunks": size}

    # What `make ingest` does after chunking (as benchmark.ingest_throughput, keeping
    # the index): embed in batches, then write the index folder atomically.
    t0 = time.perf_counter()
    index = embed_chunks(chunks, embedder, 256)
    manifest = index_mod.Manifest("hashing", 384, "synthetic", 0, 0, 0, size)
    with tempfile.TemporaryDirectory() as folder:
        index_mod.save_index(Path(folder) / "index", index, manifest)
    row["ingest_chunks_per_s"] = size / (time.perf_counter() - t0)
    vectors = index.vectors
    project, _ = timed(lambda q: index.search(q, K), query_vectors)
    baseline, _ = timed(lambda q: np.argsort(-(vectors @ q))[:K], query_vectors)
    agree = all(
        same_scores(
            [h.score for h in index.search(q, K)],
            (vectors @ q)[np.argsort(-(vectors @ q))[:K]],
        )
        for q in query_vectors[:20]
    )
    row["dense"] = {"project": stats(project), "baseline": stats(baseline)}
    row["dense"]["agree"] = agree

    t0 = time.perf_counter()
    retriever = BM25Retriever(chunks)
    row["bm25_build_project_chunks_per_s"] = size / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    naive = NaiveBM25([c.search_text() for c in chunks])
    row["bm25_build_naive_chunks_per_s"] = size / (time.perf_counter() - t0)
    project, _ = timed(lambda q: retriever.search(q, K), queries)
    budget = args["budget_s"]
    baseline, _ = timed(lambda q: naive.search(q, K), queries, budget_s=budget)
    agree = all(
        same_scores([h.score for h in retriever.search(q, K)], naive.search(q, K))
        for q in queries[:10]
    )
    row["bm25"] = {"project": stats(project), "baseline": stats(baseline)}
    row["bm25"]["agree"] = agree
    out.append(row)
    print(json.dumps(row), flush=True)
"""


def sh(*args: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def ms(value: float) -> str:
    """Milliseconds with about three significant figures."""
    if value < 1:
        return f"{value:.3f}"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


Row = dict[str, Any]


def table(rows: list[Row]) -> str:
    lines = [
        "| chunks | search | project p50 / p95 ms | baseline p50 / p95 ms "
        "| baseline queries | speed-up (p50) | same top-10 |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    names = {
        "dense": "dense: numpy index vs `np.argsort(-(M @ q))[:k]`",
        "bm25": "BM25: postings vs per-chunk loop",
    }
    for row in rows:
        for key, label in names.items():
            p, b = row[key]["project"], row[key]["baseline"]
            agree = "yes" if row[key]["agree"] else "NO"
            lines.append(
                f"| {row['chunks']:,} | {label} | {ms(p['p50'])} / {ms(p['p95'])} "
                f"| {ms(b['p50'])} / {ms(b['p95'])} | {b['n']} "
                f"| {b['p50'] / p['p50']:.1f}x | {agree} |"
            )
    lines += [
        "",
        "| chunks | ingest: hash-embed + write index, chunks/s "
        "| BM25 build, project chunks/s | BM25 build, naive chunks/s | ratio |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        project = row["bm25_build_project_chunks_per_s"]
        naive = row["bm25_build_naive_chunks_per_s"]
        lines.append(
            f"| {row['chunks']:,} | {row['ingest_chunks_per_s']:,.0f} | {project:,.0f} "
            f"| {naive:,.0f} | {project / naive:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="comma-separated chunk counts (default 1000,10000,100000)",
    )
    parser.add_argument("--queries", type=int, default=200, help="queries per size")
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds per size for the naive BM25 loop (at least 10 queries)",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="OPENBLAS_NUM_THREADS/OMP_NUM_THREADS for the measured process "
        "(default: unset, numpy's own choice, as a user's process gets)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        project, env = bake_and_install("rag", scratch)
        if args.blas_threads is not None:
            threads = str(args.blas_threads)
            env |= {"OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        package = project.name.replace("-", "_")
        arguments = {"sizes": sizes, "queries": args.queries, "budget_s": args.budget}
        output = sh(
            "uv",
            "run",
            "--offline",
            "python",
            "-c",
            MEASURE,
            package,
            json.dumps(arguments),
            cwd=project,
            env=env,
        )
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    print(
        f"# Retrieval speed ({os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, {time.perf_counter() - started:.0f} s in all)\n"
    )
    print(
        "Synthetic chunks of 40-80 Zipf-distributed words; the project's hashing "
        "embedder at 384 dimensions (no model: embedding quality and model speed are "
        f"not measured); top 10; {args.queries} queries of 3-7 words per size; "
        f"BLAS threads: {args.blas_threads or 'numpy default'}.\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()

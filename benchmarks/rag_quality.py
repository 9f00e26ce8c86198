"""The rag variant on real embeddings: evaluate-after-ingest time, and retrieval quality
with intervals on the bundled handbook and on a second real public corpus.

Bakes the rag variant, installs it (torch from the local CPU wheel, bytecode compiled,
as the template's tests do) and drives it only through its Make targets with
all-MiniLM-L6-v2:

1. Evaluate after ingest, on the bundled handbook, in one run, against the template
   as it was before the embedding cache (`--before`, default BEFORE_CACHE: baked from
   `git archive` of that commit and installed the same way): `make ingest` in both
   projects, then `make evaluate` in both, then `make evaluate` again in today's.
   Prints each wall time, the texts each step embedded and the ratios (target:
   evaluate after ingest <= 0.5x the old evaluate).
2. Quality on the handbook and on NumPy's own documentation (a real public corpus
   built offline from the installed `numpy` package): each public function's
   docstring is a document and its one-line summary the question that should find it
   (known-item retrieval, judged by construction, not by us). Prints each
   configuration's test nDCG@10 / MRR@10 with 95% intervals, the fusion chosen on dev,
   and hybrid against its best single retriever.

    uv run python benchmarks/rag_quality.py [--numpy-docs 250] [--skip-timing]
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

from baking import REPO, bake_and_install

# The template just before the embedding cache, ingested-index reuse and the ingest
# that embeds what evaluate needs (commit 6300864 added them).
BEFORE_CACHE = "dab3de4"

# Runs in the baked project: `python -c BUILD_NUMPY_DOCS <folder> <docs> <seed>`.
BUILD_NUMPY_DOCS = r"""
import inspect, json, random, sys
from pathlib import Path
import numpy, numpy.fft, numpy.linalg, numpy.polynomial.polynomial as poly

folder, wanted, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
seen_summaries, docs = set(), []
for module in (numpy, numpy.linalg, numpy.fft, poly):
    for name in sorted(dir(module)):
        obj = getattr(module, name, None)
        if name.startswith("_") or not callable(obj) or inspect.isclass(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        paragraphs = [p.strip() for p in doc.split("\n\n") if p.strip()]
        first = paragraphs[0].rstrip() if paragraphs else ""
        if "(" in first.split("\n")[0] and first.endswith(")"):
            paragraphs = paragraphs[1:]  # a ufunc's signature line
        if len(paragraphs) < 2:
            continue
        summary = " ".join(paragraphs[0].split())
        body = "\n\n".join(paragraphs[1:])[:1000]
        if len(summary.split()) < 4 or len(body) < 200 or summary in seen_summaries:
            continue
        seen_summaries.add(summary)
        qualified = f"{module.__name__}.{name}"
        docs.append((qualified, summary, body))
random.Random(seed).shuffle(docs)
docs = sorted(docs[:wanted])
(folder / "qrels").mkdir(parents=True, exist_ok=True)
corpus = (folder / "corpus.jsonl").open("w")
queries = (folder / "queries.jsonl").open("w")
with corpus, queries:
    for number, (qualified, summary, body) in enumerate(docs):
        row = {"_id": qualified, "title": qualified, "text": body}
        corpus.write(json.dumps(row) + "\n")
        queries.write(json.dumps({"_id": f"q{number:04d}", "text": summary}) + "\n")
with (folder / "qrels" / "test.tsv").open("w") as qrels:
    qrels.write("query-id\tcorpus-id\tscore\n")
    for number, (qualified, _, _) in enumerate(docs):
        qrels.write(f"q{number:04d}\t{qualified}\t2\n")
print(len(docs))
"""

OUT_OF_SCOPE = [
    "What is the capital of France?",
    "How many moons does Jupiter have?",
    "Can you recommend a good recipe for banana bread?",
    "Who won the football World Cup in 2018?",
    "How do I change the oil in my car?",
    "How tall is Mount Everest?",
    "What are the symptoms of the flu?",
    "How do I train a puppy to sit?",
    "When was the Eiffel Tower built?",
    "Who painted the Mona Lisa?",
    "What is the best time of year to visit Japan?",
    "How do I repot a cactus?",
]


def make(project: Path, env: dict[str, str], *targets: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        ["nice", "make", *targets],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        tail = result.stdout[-3000:] + result.stderr[-3000:]
        sys.exit(f"make {' '.join(targets)} failed:\n{tail}")
    return elapsed, result.stdout + result.stderr


def embedded(output: str) -> int:
    for line in output.splitlines():
        if line.startswith("embedded ") and " texts" in line:
            return int(line.split()[1])
    return -1


def quality(project: Path, label: str) -> list[str]:
    results: dict[str, Any] = json.loads(
        (project / "results" / "retrieval_eval.json").read_text(encoding="utf-8")
    )
    lines = [
        f"### {label}",
        "",
        f"{results['documents']} documents; {results['dev_queries']} dev / "
        f"{results['queries']} test questions (seed {results['split']['seed']}); "
        f"{results['embedding_model']}.",
        "",
        "| chunking | retriever | nDCG@10 [95% CI] | MRR@10 [95% CI] "
        "| fusion (chosen on dev) |",
        "|---|---|---:|---:|---|",
    ]
    for row in results["results"]:
        cells = []
        for metric in ("ndcg@10", "mrr@10"):
            low, high = row["intervals"][metric]
            cells.append(f"{row['metrics'][metric]:.3f} [{low:.3f}, {high:.3f}]")
        lines.append(
            f"| {row['chunking']} | {row['retriever']} | {cells[0]} | {cells[1]} "
            f"| {row['fusion'] or ''} |"
        )
    lines += [
        "",
        "| chunking | hybrid - best single (nDCG@10, paired) | verdict |",
        "|---|---|---|",
    ]
    for comparison in results["comparisons"]:
        value, low, high = comparison["difference"]
        lines.append(
            f"| {comparison['chunking']} | vs {comparison['single']}: {value:+.3f} "
            f"[{low:+.3f}, {high:+.3f}] | {comparison['verdict']} |"
        )
    abstention = results.get("abstention")
    if abstention and abstention["threshold"] is not None:
        lines += [
            "",
            f"Abstention (threshold {abstention['threshold']:.3f} chosen on dev): "
            "declined "
            f"{abstention['abstained_out_of_scope']}/{abstention['test_out_of_scope']} "
            f"out-of-scope and {abstention['abstained_in_scope']}/"
            f"{abstention['test_in_scope']} answerable test questions (precision "
            f"{abstention['precision']:.2f}, recall {abstention['recall']:.2f}).",
        ]
    return [*lines, ""]


def bake_commit(commit: str, folder: Path) -> tuple[Path, dict[str, str]]:
    """The rag project as the template at `commit` generates it, installed."""
    template = folder / "template"
    template.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(template)], input=archive.stdout, check=True)
    return bake_and_install("rag", folder / "out", template)


def timing(
    project: Path, env: dict[str, str], before: str, scratch: Path
) -> tuple[list[str], dict[str, float]]:
    """Ingest then evaluate, today's template against the one at `before`, steps
    interleaved so both see the same machine load."""
    old, old_env = bake_commit(before, scratch / "before")
    old_ingest_s, _ = make(old, old_env, "ingest")
    ingest_s, ingested = make(project, env, "ingest")
    old_s, old_out = make(old, old_env, "evaluate")
    warm_s, warm = make(project, env, "evaluate")
    again_s, again = make(project, env, "evaluate")
    figures = {
        "old_ingest_s": old_ingest_s,
        "old_evaluate_s": old_s,
        "ingest_s": ingest_s,
        "evaluate_after_ingest_s": warm_s,
        "evaluate_again_s": again_s,
    }
    lines = [
        "### Evaluate after ingest (bundled handbook, all-MiniLM-L6-v2)",
        "",
        f"Before: the template at {before} (no embedding cache), baked and installed "
        "the same way, steps interleaved with today's.",
        "",
        "| step | before s | now s | now / before | texts embedded now |",
        "|---|---:|---:|---:|---:|",
        f"| make ingest | {old_ingest_s:.1f} | {ingest_s:.1f} | "
        f"{ingest_s / old_ingest_s:.2f} | {ingest_embedded(ingested)} |",
        f"| make evaluate after ingest | {old_s:.1f} | {warm_s:.1f} | "
        f"{warm_s / old_s:.2f} | {embedded(warm)} |",
        f"| make evaluate again | | {again_s:.1f} | {again_s / old_s:.2f} "
        f"| {embedded(again)} |",
        f"| make ingest evaluate | {old_ingest_s + old_s:.1f} | "
        f"{ingest_s + warm_s:.1f} | {(ingest_s + warm_s) / (old_ingest_s + old_s):.2f} "
        "| |",
        "",
        f"Evaluate after ingest takes {warm_s / old_s:.2f}x the old evaluate "
        f"(target <= 0.5x); a second evaluate {again_s / old_s:.2f}x. Ingest now "
        "also embeds the questions and the other chunkings while its model is loaded "
        "(INGEST_EMBEDS_EVALUATION), so the evaluate loads no model; the last row is "
        "the pair as a user runs it. The old evaluate printed no count"
        f"{'' if embedded(old_out) < 0 else f' ({embedded(old_out)} texts)'}: it "
        "embedded every chunking and question.",
        "",
    ]
    return lines, figures


def ingest_embedded(output: str) -> int:
    """Texts a first ingest (empty cache) embedded: its index's chunks plus what it
    embedded for evaluate."""
    total = 0
    for line in output.splitlines():
        if line.startswith("indexed ") and " as " in line:
            total += int(line.split(" as ")[1].split()[0])
        if line.startswith("embedded ") and "for make evaluate" in line:
            total += int(line.split()[1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--numpy-docs", type=int, default=250, help="documents (0: skip)"
    )
    parser.add_argument("--skip-timing", action="store_true", help="quality only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--before",
        default=BEFORE_CACHE,
        help="the commit of this template whose evaluate is the baseline",
    )
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args()
    started = time.perf_counter()
    report: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        project, env = bake_and_install("rag", scratch)

        if args.skip_timing:
            make(project, env, "ingest")
            make(project, env, "evaluate")
        else:
            lines, figures = timing(project, env, args.before, Path(scratch))
            report += lines
            if args.json:
                args.json.write_text(json.dumps(figures, indent=2) + "\n")
        report += quality(project, "Bundled handbook")

        if args.numpy_docs:
            folder = project / "data" / "numpy-docs"
            build = subprocess.run(
                [
                    "uv",
                    "run",
                    "--offline",
                    "python",
                    "-c",
                    BUILD_NUMPY_DOCS,
                    str(folder),
                    str(args.numpy_docs),
                    str(args.seed),
                ],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            with (folder / "out_of_scope.jsonl").open("w", encoding="utf-8") as handle:
                for number, question in enumerate(OUT_OF_SCOPE, 1):
                    handle.write(
                        json.dumps({"_id": f"oos-{number:02d}", "text": question})
                        + "\n"
                    )
            corpus_env = env | {"CORPUS_PATH": str(folder), "MIN_NDCG_AT_10": "0"}
            make(project, corpus_env, "ingest")
            make(project, corpus_env, "evaluate")
            report += quality(
                project,
                f"NumPy documentation ({build.stdout.strip()} docstrings, numpy's own)",
            )
    print(
        f"# rag quality and evaluate time ({os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, {time.perf_counter() - started:.0f} s in all)\n"
    )
    print("\n".join(report))


if __name__ == "__main__":
    main()

"""Command line: `{{ cookiecutter.project_slug }} --help` lists every job."""

import errno
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from .platform.commands import command_app, describe_os_error, fail
from .settings import Settings, get_settings

# The shared callback reads the settings first: a bad one stops every command there,
# in one line naming it (commands.py).
app = command_app(
    "Ingest, evaluate, query and serve the retrieval pipeline.",
    lambda: get_settings().log_level,
    Settings,
)
logger = logging.getLogger(__name__)


def os_failure(exc: OSError) -> typer.Exit:
    """A failed write as the shared one line, plus where a rag project can write instead."""
    advice = ""
    if exc.errno == errno.ENOSPC:
        advice = (
            "; or point INDEX_DIR, RESULTS_DIR and EMBEDDING_CACHE_DIR at another disk"
            " (the previous index is kept)"
        )
    return fail(describe_os_error(exc) + advice)


def with_corpus(settings: Settings, corpus: Path | None) -> Settings:
    return settings if corpus is None else settings.model_copy(update={"corpus_path": corpus})


CorpusOption = Annotated[
    Path | None,
    typer.Option(help="BEIR folder or folder of .md/.txt (default: CORPUS_PATH)."),
]


@app.command()
def ingest(corpus: CorpusOption = None) -> None:
    """Chunk and embed the corpus, then write the index atomically (INDEX_DIR)."""
    from .corpus import CorpusError
    from .pipeline import ingest as run_ingest

    settings = with_corpus(get_settings(), corpus)
    try:
        report = run_ingest(settings, progress=True)
    except (CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise os_failure(exc) from None
    typer.echo(
        f"indexed {report.documents} documents as {report.chunks} {settings.chunking} chunks "
        f"in {report.seconds:.1f} s ({report.chunks_per_second:.0f} chunks/s) -> {report.index_dir}"
    )
    if report.evaluation_texts:
        typer.echo(
            f"embedded {report.evaluation_texts} texts for make evaluate "
            f"in {report.evaluation_seconds:.1f} s (INGEST_EMBEDS_EVALUATION)"
        )


@app.command()
def evaluate(corpus: CorpusOption = None) -> None:
    """Score every chunking x retriever on test questions (fusion and abstention chosen on
    dev); log each to MLflow; store the choices beside the ingested index."""
    from .corpus import CorpusError
    from .evaluation import evaluate as run_evaluation

    settings = with_corpus(get_settings(), corpus)
    try:
        report = run_evaluation(settings)
    except (CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise os_failure(exc) from None
    typer.echo(report.table)
    typer.echo(f"table, plot and JSON written to {settings.results_dir}/retrieval_eval.*")
    typer.echo(f"embedded {report.embedded} texts (the rest came from the embedding cache)")
    if report.calibrated is None:
        typer.echo(
            f"no index of this corpus and chunking at {settings.index_dir}: run `make ingest` "
            "then `make evaluate` to give the API the fusion and abstention chosen here"
        )
    else:
        typer.echo(f"fusion and abstention threshold stored in {report.calibrated}")
    if report.failures:
        raise fail("; ".join(report.failures))


@app.command()
def query(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    top_k: Annotated[int | None, typer.Option(min=1, max=50, help="Default: TOP_K.")] = None,
    corpus: CorpusOption = None,
) -> None:
    """Answer one question from the index (extractive, with citations)."""
    from .answer import ABSTAINED, extractive_answer
    from .corpus import CorpusError
    from .index import IndexNotFoundError
    from .pipeline import load_engine

    settings = with_corpus(get_settings(), corpus)
    try:
        engine = load_engine(settings)
    except (IndexNotFoundError, CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    hits = engine.retrievers[settings.retriever].search(question, top_k or settings.top_k)
    answered = not engine.abstains(question)
    typer.echo(extractive_answer(question, hits).text if answered else ABSTAINED)
    for number, hit in enumerate(hits, 1):
        where = " > ".join(hit.chunk.heading_path) or hit.chunk.title
        typer.echo(f"[{number}] {hit.score:.4f} {hit.chunk.doc_id} ({where})")


@app.command()
def benchmark(
    synthetic: Annotated[int, typer.Option(min=1, help="Synthetic chunks to ingest.")] = 10_000,
    output: Annotated[Path, typer.Option(help="Results file.")] = Path("results/benchmark.json"),
    corpus: CorpusOption = None,
) -> None:
    """Query latency p50/p95 per retriever and ingest throughput (chunks/s); see `report`."""
    from .benchmark import run
    from .corpus import CorpusError, corpus_sha256, load_documents, load_queries
    from .index import IndexNotFoundError
    from .pipeline import load_engine
    from .platform.files import write_json

    settings = with_corpus(get_settings(), corpus)
    try:
        engine = load_engine(settings)
    except (IndexNotFoundError, CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    figures = run(
        load_documents(settings.corpus_path),
        list(load_queries(settings.corpus_path).values()),
        engine.retrievers,
        engine.embedder,
        chunking=settings.chunking,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        batch_size=settings.embedding_batch_size,
        synthetic=synthetic,
    )
    figures["corpus"] = {
        "path": str(settings.corpus_path),
        "sha256": corpus_sha256(settings.corpus_path),
    }
    write_json(output, figures)
    typer.echo(json.dumps(figures, indent=2))


@app.command("load-test")
def load_test(
    url: Annotated[
        str | None, typer.Option(help="Default: http://API_HOST:API_PORT/query.")
    ] = None,
    requests: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Clients at once (each waits for its answer).")
    ] = 8,
    output: Annotated[Path, typer.Option(help="Results file.")] = Path("results/load_test.json"),
    corpus: CorpusOption = None,
) -> None:
    """Closed-loop load on a running API's /query: throughput and latency of one replica."""
    import asyncio

    import httpx

    from .corpus import CorpusError, load_queries
    from .loadtest import run
    from .platform.files import write_json

    settings = with_corpus(get_settings(), corpus)
    # One INFO line per request from httpx would bury the summary.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    target = url or f"http://{settings.api_host}:{settings.api_port}/query"
    ready = target.rsplit("/", 1)[0] + "/ready"
    try:
        answer = httpx.get(ready, timeout=5)
    except httpx.HTTPError:
        raise fail(f"nothing answers at {ready}: start the API with `make serve`") from None
    if answer.status_code != 200:
        raise fail(f"{ready} answered {answer.status_code}: {answer.text[:200]}")
    try:
        questions = list(load_queries(settings.corpus_path).values())
    except (CorpusError, OSError) as exc:
        raise fail(f"{settings.corpus_path} has no questions to send ({exc})") from None
    if not questions:
        raise fail(f"{settings.corpus_path}/queries.jsonl holds no questions to send")
    result = asyncio.run(
        run(
            target,
            questions,
            requests=requests,
            concurrency=concurrency,
            retriever=settings.retriever,
        )
    )
    write_json(output, result.as_dict())
    typer.echo(json.dumps(result.as_dict(), indent=2))


@app.command()
def report(
    readme: Annotated[Path, typer.Option(help="README whose results sections to rewrite.")] = Path(
        "README.md"
    ),
    corpus: CorpusOption = None,
) -> None:
    """Rewrite the README's results tables and docs/ figure from results/."""
    from .platform.readme import MissingSectionError, ReportError
    from .report import write_report

    settings = with_corpus(get_settings(), corpus)
    try:
        figure = write_report(settings.results_dir, readme, settings.corpus_path)
    except (ReportError, MissingSectionError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"updated {readme} and {figure}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (API_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes (API_WORKERS).")] = None,
) -> None:
    """Serve the API with uvicorn (CORPUS_PATH: refuse an index of other documents)."""
    from .platform.service import serve as run_server

    run_server(f"{__package__}.api:create_app", get_settings(), host, port, workers)

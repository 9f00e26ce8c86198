"""Command line: `{{ cookiecutter.project_slug }} --help` lists every job."""

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from .commands import command_app, fail
from .settings import get_settings

app = command_app(
    "Ingest, evaluate, query and serve the retrieval pipeline.",
    lambda: get_settings().log_level,
)
logger = logging.getLogger(__name__)


@app.command()
def ingest(
    corpus: Annotated[Path | None, typer.Option(help="BEIR folder or folder of .md/.txt.")] = None,
) -> None:
    """Chunk and embed the corpus, then write the index atomically (INDEX_DIR)."""
    from .corpus import CorpusError
    from .pipeline import ingest as run_ingest

    settings = get_settings()
    if corpus is not None:
        settings = settings.model_copy(update={"corpus_path": corpus})
    try:
        report = run_ingest(settings, progress=True)
    except (CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"indexed {report.documents} documents as {report.chunks} {settings.chunking} chunks "
        f"in {report.seconds:.1f} s ({report.chunks_per_second:.0f} chunks/s) -> {report.index_dir}"
    )


@app.command()
def evaluate() -> None:
    """Score every chunking x retriever on the judgements; log each to MLflow."""
    from .corpus import CorpusError
    from .evaluation import evaluate as run_evaluation

    settings = get_settings()
    try:
        report = run_evaluation(settings)
    except (CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(report.table)
    typer.echo(f"table, plot and JSON written to {settings.results_dir}/retrieval_eval.*")
    if report.failures:
        raise fail("; ".join(report.failures))


@app.command()
def query(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    top_k: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Answer one question from the index (extractive, with citations)."""
    from .answer import extractive_answer
    from .index import IndexNotFoundError
    from .pipeline import load_engine

    settings = get_settings()
    try:
        engine = load_engine(settings)
    except (IndexNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    hits = engine.retrievers[settings.retriever].search(question, top_k)
    typer.echo(extractive_answer(question, hits).text)
    for number, hit in enumerate(hits, 1):
        where = " > ".join(hit.chunk.heading_path) or hit.chunk.title
        typer.echo(f"[{number}] {hit.score:.4f} {hit.chunk.doc_id} ({where})")


@app.command()
def benchmark(
    synthetic: Annotated[int, typer.Option(min=1, help="Synthetic chunks to ingest.")] = 10_000,
    output: Annotated[Path, typer.Option(help="Results file.")] = Path("results/benchmark.json"),
) -> None:
    """Query latency p50/p95 per retriever and ingest throughput (chunks/s); see `report`."""
    from .benchmark import run
    from .corpus import load_documents, load_queries
    from .files import write_json
    from .index import IndexNotFoundError
    from .pipeline import load_engine

    settings = get_settings()
    try:
        engine = load_engine(settings)
    except (IndexNotFoundError, ValueError) as exc:
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
    write_json(output, figures)
    typer.echo(json.dumps(figures, indent=2))


@app.command()
def report(
    readme: Annotated[Path, typer.Option(help="README whose results sections to rewrite.")] = Path(
        "README.md"
    ),
) -> None:
    """Rewrite the README's results tables and docs/ figure from results/."""
    from .readme import MissingSectionError, ReportError
    from .report import write_report

    settings = get_settings()
    try:
        figure = write_report(settings.results_dir, readme)
    except (ReportError, MissingSectionError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"updated {readme} and {figure}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (API_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes (API_WORKERS).")] = None,
) -> None:
    """Serve the API with uvicorn."""
    from .service import serve as run_server

    run_server(f"{__package__}.api:create_app", get_settings(), host, port, workers)

"""Command line: `{{ cookiecutter.project_slug }} --help` lists every job.

A command only parses its options, builds the settings, runs its job (a function in the
module named for the verb, e.g. `pipeline.ingest`, returning what it prints as `summary`)
and turns the errors a person can fix into one `error:` line.
"""

import errno
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

    try:
        done = run_ingest(with_corpus(get_settings(), corpus), progress=True)
    except (CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise os_failure(exc) from None
    typer.echo(done.summary)


@app.command()
def evaluate(corpus: CorpusOption = None) -> None:
    """Score every chunking x retriever on test questions (fusion and abstention chosen on
    dev); log each to MLflow; store the choices beside the ingested index."""
    from .corpus import CorpusError
    from .evaluation import evaluate as run_evaluation

    try:
        done = run_evaluation(with_corpus(get_settings(), corpus), progress=True)
    except (CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise os_failure(exc) from None
    typer.echo(done.summary)
    if done.failures:
        raise fail("; ".join(done.failures))


@app.command()
def query(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    top_k: Annotated[int | None, typer.Option(min=1, max=50, help="Default: TOP_K.")] = None,
    corpus: CorpusOption = None,
) -> None:
    """Answer one question from the index (extractive, with citations)."""
    from .corpus import CorpusError
    from .index import IndexNotFoundError
    from .pipeline import query as run_query

    try:
        done = run_query(with_corpus(get_settings(), corpus), question, top_k)
    except (IndexNotFoundError, CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(done.summary)


@app.command()
def benchmark(
    synthetic: Annotated[int, typer.Option(min=1, help="Synthetic chunks to ingest.")] = 10_000,
    output: Annotated[Path, typer.Option(help="Results file.")] = Path("results/benchmark.json"),
    corpus: CorpusOption = None,
) -> None:
    """Query latency p50/p95 per retriever and ingest throughput (chunks/s); see `report`."""
    from .benchmark import benchmark as run_benchmark
    from .corpus import CorpusError
    from .index import IndexNotFoundError

    try:
        done = run_benchmark(with_corpus(get_settings(), corpus), synthetic, output)
    except (IndexNotFoundError, CorpusError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(done.summary)


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
    from .loadtest import LoadTestError
    from .loadtest import load_test as run_load_test
    from .platform.closed_loop import ApiNotReadyError

    settings = with_corpus(get_settings(), corpus)
    try:
        done = run_load_test(
            settings, url, requests=requests, concurrency=concurrency, output=output
        )
    except (LoadTestError, ApiNotReadyError) as exc:
        raise fail(str(exc)) from None
    typer.echo(done.summary)


@app.command()
def report(
    readme: Annotated[Path, typer.Option(help="README whose results sections to rewrite.")] = Path(
        "README.md"
    ),
    corpus: CorpusOption = None,
) -> None:
    """Rewrite the README's results tables and docs/ figure from results/ alone."""
    from .platform.readme import MissingSectionError, ReportError
    from .report import write_report

    try:
        done = write_report(with_corpus(get_settings(), corpus), readme)
    except (ReportError, MissingSectionError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(done.summary)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (API_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes (API_WORKERS).")] = None,
) -> None:
    """Serve the API with uvicorn (CORPUS_PATH: refuse an index of other documents)."""
    from .platform.service import serve as run_server

    run_server(f"{__package__}.api:create_app", get_settings(), host, port, workers)

"""Command line: `{{ cookiecutter.project_slug }} --help` lists every job."""

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from .platform.commands import command_app, fail
from .settings import Settings, get_settings

app = command_app(
    "Train, evaluate, serve and monitor the churn model.",
    lambda: get_settings().log_level,
    Settings,
)
logger = logging.getLogger(__name__)


@app.command()
def data(
    rows: Annotated[int, typer.Option(min=100, help="Rows to generate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    output: Annotated[Path | None, typer.Option(help="CSV to write.")] = None,
) -> None:
    """Regenerate the bundled synthetic dataset (deterministic for a seed)."""
    from .dataset import generate, write_csv

    target = output or get_settings().data_path
    write_csv(generate(rows, seed), target)
    typer.echo(f"wrote {rows} rows to {target}")


@app.command()
def train() -> None:
    """Train, compare with the baseline, log to MLflow, promote if thresholds pass."""
    from .dataset import DataError
    from .train import train as run_training

    try:
        result = run_training(get_settings())
    except DataError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"run {result.run_id}: model version {result.model_version}")
    for name, estimate in result.metrics.items():
        typer.echo(f"  {name:<10} {estimate}   baseline {result.baseline_metrics[name].value:.3f}")
    if result.promoted:
        typer.echo("promoted to champion and exported")
    else:
        typer.echo("not promoted: " + "; ".join(result.failures))


@app.command()
def evaluate(
    data_path: Annotated[
        Path | None,
        typer.Option("--data", help="Labelled CSV to score whole; default: the held-out split."),
    ] = None,
) -> None:
    """Score the served model (MODEL_URI, default the champion) with confidence intervals.

    Without --data it scores the same held-out split as `train`, never rows the
    model was fitted on.
    """
    from .dataset import DataError
    from .jobs import evaluate as run_evaluation
    from .registry import ModelLoadError

    try:
        evaluated = run_evaluation(get_settings(), data_path)
    except (DataError, ModelLoadError) as exc:
        raise fail(str(exc)) from None
    typer.echo(evaluated.summary())


@app.command()
def report(
    readme: Annotated[Path, typer.Option(help="README whose results sections to rewrite.")] = Path(
        "README.md"
    ),
) -> None:
    """Rewrite the README's results tables and figure from results/ alone."""
    from .jobs import report as run_report
    from .platform.readme import MissingSectionError, ReportError

    try:
        reported = run_report(get_settings(), readme)
    except (ReportError, MissingSectionError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(reported.summary())


@app.command()
def drift(
    input_path: Annotated[Path, typer.Argument(help="CSV of recent inputs (features only).")],
) -> None:
    """Compare recent inputs with the training reference (PSI, KS); exit 2 on drift."""
    from .dataset import DataError
    from .drift import as_records
    from .jobs import check_drift
    from .registry import ModelLoadError

    try:
        checked = check_drift(get_settings(), input_path)
    except (DataError, ModelLoadError) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(as_records(checked.features), indent=2))
    if checked.drifted:
        raise typer.Exit(code=2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (API_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes (API_WORKERS).")] = None,
) -> None:
    """Serve the API with uvicorn."""
    from .platform.service import serve as run_server

    run_server(f"{__package__}.api:create_app", get_settings(), host, port, workers)


@app.command("load-test")
def load_test(
    *,
    url: Annotated[str, typer.Option(help="Base URL of a running API.")] = "http://127.0.0.1:8000",
    requests: Annotated[int, typer.Option(min=1, max=1_000_000)] = 2000,
    concurrency: Annotated[int, typer.Option(min=1, max=1000)] = 8,
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 1,
    rate: Annotated[
        float | None,
        typer.Option(min=0.1, help="Open loop: send this many requests/s whatever the answers."),
    ] = None,
    output: Annotated[Path, typer.Option(help="Results file.")] = Path("results/load_test.json"),
) -> None:
    """Send a fixed number of /predict requests and record p50/p95/p99 and throughput."""
    import httpx

    from .loadtest import run, run_open_loop
    from .platform.files import write_json

    async def go() -> dict[str, object]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            ready = await client.get("/ready")
            if ready.status_code != 200:
                raise fail(f"{url}/ready answered {ready.status_code}: start the API first")
            if rate is None:
                result = await run(client, requests, concurrency, batch_size)
            else:
                result = await run_open_loop(client, requests, rate, batch_size)
        return result.as_dict()

    try:
        summary = asyncio.run(go())
    except httpx.ConnectError:
        raise fail(f"nothing answers at {url}: start the API with `make serve`") from None
    write_json(output, summary)
    typer.echo(json.dumps(summary, indent=2))

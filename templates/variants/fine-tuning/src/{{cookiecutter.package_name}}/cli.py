"""Command line: `{{ cookiecutter.project_slug }} --help` lists every job.

Each command parses its options, calls its job (`run(settings, ...)` in the module
named for it) and prints the result's summary; a known error is one line. Heavy
libraries (torch, transformers, MLflow) load inside the jobs, so `--help` answers at once.
"""

from pathlib import Path
from typing import Annotated

import typer

from .platform.commands import command_app, fail
from .settings import Settings, get_settings

app = command_app(
    "Generate data, fine-tune with LoRA, evaluate, report, serve and smoke-test the model.",
    lambda: get_settings().log_level,
    Settings,
)


@app.command()
def data(
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    output_dir: Annotated[Path | None, typer.Option(help="Folder for the JSONL splits.")] = None,
) -> None:
    """Regenerate the bundled train/validation/test JSONL (deterministic for a seed)."""
    from .dataset import run

    typer.echo(run(get_settings(), seed, output_dir).summary())


@app.command()
def train() -> None:
    """Evaluate the base, fine-tune with LoRA, evaluate again, check the merge, log to MLflow.

    Under `accelerate launch` (make train-distributed) every process runs this command:
    rank 0 does all of it, the others only train on their shard (distributed.py).
    """
    from . import distributed
    from . import train as job

    settings = get_settings()
    try:
        if not distributed.world().main:
            distributed.run(settings)
            return
        result = job.run(settings, announce=typer.echo)
    except (ValueError, OSError) as exc:  # DataError is a ValueError
        raise fail(str(exc)) from None
    typer.echo(result.summary())


@app.command()
def evaluate() -> None:
    """Print the last training run's comparison and failure cases (results/evaluation.md)."""
    from .evaluation import run

    try:
        result = run(get_settings())
    except OSError as exc:
        raise fail(str(exc)) from None
    typer.echo(result.summary())


@app.command()
def report(
    readme: Annotated[Path, typer.Option(help="README whose results sections to rewrite.")] = Path(
        "README.md"
    ),
) -> None:
    """Rewrite the README's results sections and docs/figures/ from results/ alone."""
    from .platform.readme import MissingSectionError, ReportError
    from .report import run

    try:
        result = run(get_settings(), readme)
    except (ReportError, MissingSectionError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(result.summary())


@app.command("gpu-smoke")
def gpu_smoke(
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    steps: Annotated[int, typer.Option(min=1, max=10_000)] = 10,
    batch_size: Annotated[
        int | None, typer.Option(min=1, max=4096, help="Default: the recipe's choice.")
    ] = None,
    output: Annotated[Path, typer.Option(help="Results file.")] = Path("results/gpu_smoke.json"),
) -> None:
    """N steps of `make train`'s fine-tuning path on a real model shape: tokens/s, peak memory."""
    from .smoke import run

    try:
        result = run(get_settings(), device, steps=steps, batch_size=batch_size, output=output)
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(result.summary())


@app.command("load-test")
def load_test(
    url: Annotated[
        str | None, typer.Option(help="Default: http://API_HOST:API_PORT/generate.")
    ] = None,
    requests: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Clients at once (beyond GENERATION_QUEUE: 503s).")
    ] = 4,
    max_new_tokens: Annotated[int, typer.Option(min=1, max=2048)] = 8,
    output: Annotated[Path, typer.Option(help="Results file.")] = Path("results/load_test.json"),
) -> None:
    """Closed-loop load on a running API's /generate: throughput and latency of one replica."""
    from .loadtest import run
    from .platform.closed_loop import ApiNotReadyError

    try:
        result = run(
            get_settings(),
            url,
            requests=requests,
            concurrency=concurrency,
            max_new_tokens=max_new_tokens,
            output=output,
        )
    except (ApiNotReadyError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(result.summary())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (API_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes (API_WORKERS).")] = None,
) -> None:
    """Serve the API with uvicorn (base + the adapter in ADAPTER_DIR)."""
    from .platform.service import serve as run_server

    run_server(
        "{{ cookiecutter.package_name }}.api:create_app",
        get_settings(),
        host,
        port,
        workers,
    )


if __name__ == "__main__":  # pragma: no cover - `accelerate launch -m <package>.cli train`
    app()

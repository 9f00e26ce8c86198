"""Command line: `{{ cookiecutter.project_slug }} --help` lists every job.

Heavy libraries (torch, transformers, MLflow) load inside the commands, so `--help`
answers at once.
"""

import json
import logging
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
logger = logging.getLogger(__name__)


@app.command()
def data(
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    output_dir: Annotated[Path | None, typer.Option(help="Folder for the JSONL splits.")] = None,
) -> None:
    """Regenerate the bundled train/validation/test JSONL (deterministic for a seed)."""
    from .dataset import generate, write_jsonl

    target = output_dir or get_settings().data_dir
    for split, examples in generate(seed).items():
        write_jsonl(examples, target / f"{split}.jsonl")
        typer.echo(f"wrote {len(examples)} examples to {target / f'{split}.jsonl'}")


@app.command()
def train() -> None:
    """Evaluate the base, fine-tune with LoRA, evaluate again, check the merge, log to MLflow.

    Under `accelerate launch` (make train-distributed) every process runs this command:
    rank 0 does all of it, the others only train on their shard (distributed.py).
    """
    from .dataset import SPLITS, DataError, load_jsonl
    from .distributed import world
    from .modeling import TINY, resolve_base

    settings = get_settings()
    try:
        here = world()
        # Before the heavy imports below (MLflow, torch: seconds): a bad data file, an
        # unreachable hub or a missing folder is reported at once.
        for split in SPLITS:
            load_jsonl(settings.split_path(split))
        if settings.base_model != TINY:
            resolve_base(settings.base_model)
    except ValueError as exc:
        raise fail(str(exc)) from None

    from .evaluation import comparison_table
    from .train import train as run_training
    from .train import train_shard

    try:
        if not here.main:
            train_shard(settings)
            return
        result = run_training(settings, announce=typer.echo)
    except (DataError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"run {result.run_id}: {result.global_step} steps")
    if result.losses:
        typer.echo(f"  train loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}")
    typer.echo(comparison_table({"base": result.base_metrics, "fine-tuned": result.tuned_metrics}))
    if result.merge_max_abs_diff is not None:
        typer.echo(f"  merged vs adapter max |logit diff| {result.merge_max_abs_diff:.2e}")
    if result.promoted:
        typer.echo(f"adapter exported to {get_settings().adapter_dir}")
    else:
        typer.echo("not exported: " + "; ".join(result.promotion_failures))


@app.command()
def evaluate() -> None:
    """Print the last training run's comparison and failure cases (results/evaluation.md)."""
    report = get_settings().results_dir / "evaluation.md"
    if not report.is_file():
        raise fail(f"{report} is missing: run `make train` first")
    typer.echo(report.read_text(encoding="utf-8"))


@app.command()
def report(
    readme: Annotated[Path, typer.Option(help="README whose results sections to rewrite.")] = Path(
        "README.md"
    ),
) -> None:
    """Rewrite the README's results sections and docs/figures/ from results/ alone."""
    from .platform.readme import MissingSectionError, ReportError
    from .report import build

    settings = get_settings()
    try:
        written = build(readme, settings.results_dir)
    except (ReportError, MissingSectionError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo("updated " + ", ".join(str(path) for path in written))


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
    from .platform.files import write_json
    from .smoke import run

    if device not in ("auto", "cpu", "cuda"):
        raise fail(f"--device must be auto, cpu or cuda, got {device!r}")
    try:
        result = run(
            device,  # type: ignore[arg-type]
            steps=steps,
            batch_size=batch_size,
            data_dir=get_settings().data_dir,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    write_json(output, result.as_dict())
    typer.echo(json.dumps(result.as_dict(), indent=2))


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
    import asyncio

    import httpx

    from .dataset import load_jsonl
    from .loadtest import run
    from .platform.files import write_json

    # httpx logs every request at INFO: hundreds of lines that say nothing here.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    target = url or f"http://{settings.api_host}:{settings.api_port}/generate"
    ready = target.rsplit("/", 1)[0] + "/ready"
    try:
        answer = httpx.get(ready, timeout=5)
    except httpx.HTTPError:
        raise fail(f"nothing answers at {ready}: start the API with `make serve`") from None
    if answer.status_code != 200:
        raise fail(f"{ready} answered {answer.status_code}: {answer.text[:200]}")
    try:
        prompts = [example.text for example in load_jsonl(settings.split_path("test"))]
    except ValueError as exc:
        raise fail(str(exc)) from None
    result = asyncio.run(
        run(
            target,
            prompts,
            requests=requests,
            concurrency=concurrency,
            max_new_tokens=max_new_tokens,
        )
    )
    write_json(output, result.as_dict())
    typer.echo(json.dumps(result.as_dict(), indent=2))


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

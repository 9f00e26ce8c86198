"""The README's results, rebuilt from the results files (`make report`).

`results/retrieval_eval.json` (written by `make evaluate`) gives the comparison table,
the best configuration, the random floor and the figure `docs/retrieval_eval.png`;
`results/benchmark.json` (`make benchmark`), when there is one, gives the speed tables.
Nothing run-specific (run ids, dates) goes in, so the same results give the same bytes.
"""

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from .evaluation import BASELINE, markdown_table, plot
from .files import write_text
from .metrics import METRICS
from .readme import ReportError, replace_section

EVALUATION = "retrieval_eval.json"
BENCHMARK = "benchmark.json"
# Relative to the README, which links to it.
FIGURE = Path("docs/retrieval_eval.png")
FIGURE_METRIC = "ndcg@10"
FIGURE_CAPTION = "nDCG@10 by chunking strategy and retriever"


class EvaluatedConfig(BaseModel):
    chunking: str
    retriever: str
    chunks: int = Field(ge=0)
    metrics: dict[str, float]

    @field_validator("metrics")
    @classmethod
    def _has_every_metric(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [name for name in METRICS if name not in value]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        return value


class EvaluatedSettings(BaseModel):
    chunk_size: int
    chunk_overlap: int
    candidate_depth: int
    rrf_k: int
    chunking: str
    retriever: str
    min_ndcg_at_10: float


class Evaluation(BaseModel):
    """What `make evaluate` writes to results/retrieval_eval.json."""

    embedding_model: str
    documents: int
    queries: int
    judgements: int
    settings: EvaluatedSettings
    results: list[EvaluatedConfig] = Field(min_length=1)


class Latency(BaseModel):
    p50_ms: float
    p95_ms: float


class Benchmark(BaseModel):
    """What `make benchmark` writes to results/benchmark.json."""

    embedding_model: str
    queries: int
    cpus: int | None = None
    load_average: float | None = None
    latency: dict[str, Latency]
    ingest_chunks_per_s: dict[str, float]


Results = TypeVar("Results", Evaluation, Benchmark)


def load(path: Path, schema: type[Results], target: str) -> Results:
    """Read and check one results file; a ReportError names the file and the make target."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path} is missing: run `make {target}` first") from None
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the file"
        raise ReportError(
            f"{path} is not what `make {target}` writes ({where}: {error['msg']}): "
            f"run `make {target}` again"
        ) from None


def _pair(config: EvaluatedConfig) -> str:
    return f"{config.chunking} + {config.retriever}"


def _scores(config: EvaluatedConfig) -> str:
    return f"nDCG@10 {config.metrics['ndcg@10']:.3f}, MRR@10 {config.metrics['mrr@10']:.3f}"


def best_configurations(evaluation: Evaluation) -> list[EvaluatedConfig]:
    """The best real configuration by nDCG@10 then MRR@10, followed by any that tie
    with it at the three decimals the table shows."""
    real = [r for r in evaluation.results if r.retriever != BASELINE]
    if not real:
        raise ReportError("the evaluation holds only the random baseline: run `make evaluate`")

    def rounded(config: EvaluatedConfig) -> tuple[float, float]:
        return round(config.metrics["ndcg@10"], 3), round(config.metrics["mrr@10"], 3)

    best = max(real, key=lambda r: (r.metrics["ndcg@10"], r.metrics["mrr@10"]))
    ties = [r for r in real if r is not best and rounded(r) == rounded(best)]
    return [best, *ties]


def retrieval_section(evaluation: Evaluation) -> str:
    """The caption, the comparison table, the best configuration, the floor and the figure."""
    knobs = evaluation.settings
    best, *ties = best_configurations(evaluation)
    tied = f", tied at three decimals with {', '.join(_pair(t) for t in ties)}" if ties else ""
    configured = next(
        (
            r
            for r in evaluation.results
            if (r.chunking, r.retriever) == (knobs.chunking, knobs.retriever)
        ),
        None,
    )
    lines = [
        f"{evaluation.documents} documents, {evaluation.queries} questions with "
        f"{evaluation.judgements} graded judgements; {evaluation.embedding_model}, chunks of "
        f"at most {knobs.chunk_size} characters ({knobs.chunk_overlap} overlap for `fixed`), "
        f"candidate depth {knobs.candidate_depth}, RRF k = {knobs.rrf_k}.",
        "",
        markdown_table(evaluation.results).rstrip("\n"),
        "",
        f"- **Best: {_pair(best)}** ({_scores(best)}){tied}.",
    ]
    if configured is not None:
        lines.append(
            f"- Configured pipeline (`CHUNKING={knobs.chunking}`, "
            f"`RETRIEVER={knobs.retriever}`): {_scores(configured)}; "
            f"`make evaluate` fails below nDCG@10 {knobs.min_ndcg_at_10}."
        )
    for floor in (r for r in evaluation.results if r.retriever == BASELINE):
        lines.append(
            f"- Random baseline ({floor.chunking} chunks): {_scores(floor)}; "
            "every real configuration must clear it."
        )
    lines += ["", f"![{FIGURE_CAPTION}]({FIGURE.as_posix()})"]
    return "\n".join(lines)


def speed_section(benchmark: Benchmark | None) -> str:
    """Query latency per retriever and ingest throughput, or how to measure them."""
    if benchmark is None:
        return "No benchmark recorded yet: run `make ingest`, then `make benchmark`."
    cores = f" on {benchmark.cpus} CPU cores" if benchmark.cpus else ""
    if benchmark.load_average is not None:
        cores += f" (load average {benchmark.load_average:.1f} at the end of the run)"
    lines = [
        f"Recorded by `make benchmark` in `results/{BENCHMARK}`: {benchmark.embedding_model}, "
        f"latency over {benchmark.queries} questions, top 10{cores}.",
        "",
        "| query | p50 ms | p95 ms |",
        "|---|---:|---:|",
        *(
            f"| {name} | {figures.p50_ms:.2f} | {figures.p95_ms:.2f} |"
            for name, figures in benchmark.latency.items()
        ),
        "",
        "| ingest (embed + write the index) | chunks/s |",
        "|---|---:|",
        *(f"| {corpus} | {rate:,.1f} |" for corpus, rate in benchmark.ingest_chunks_per_s.items()),
    ]
    return "\n".join(lines)


def write_report(results_dir: Path, readme: Path) -> Path:
    """Rewrite the README's `retrieval` and `speed` sections and redraw the figure.

    Everything is read and rendered before anything is written, and each file is
    replaced atomically: a missing results file or marker leaves both untouched.
    Returns the figure's path.
    """
    evaluation = load(results_dir / EVALUATION, Evaluation, "evaluate")
    benchmark_path = results_dir / BENCHMARK
    benchmark = load(benchmark_path, Benchmark, "benchmark") if benchmark_path.exists() else None
    try:
        text = readme.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{readme} is missing: run the report from the project root") from None
    text = replace_section(text, "retrieval", retrieval_section(evaluation))
    text = replace_section(text, "speed", speed_section(benchmark))
    figure = readme.parent / FIGURE
    plot(evaluation.results, figure, FIGURE_METRIC)
    write_text(readme, text)
    return figure

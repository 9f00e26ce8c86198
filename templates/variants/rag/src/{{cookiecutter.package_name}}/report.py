"""The README's results, rebuilt from the results files (`make report`).

`results/retrieval_eval.json` (written by `make evaluate`) gives the comparison table,
the best configuration, the random floor and the figure `docs/retrieval_eval.png`;
`results/benchmark.json` (`make benchmark`), when there is one, gives the speed tables;
`results/load_test.json` (`make load-test`), when there is one, the replicas a few steady
loads need.
Nothing run-specific (run ids, dates) goes in, so the same results give the same bytes.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from .corpus import corpus_sha256
from .evaluation import BASELINE, Abstention, markdown_table, plot
from .metrics import METRICS
from .platform.capacity import TARGET_UTILISATION, replica_table
from .platform.files import write_text
from .platform.readme import ReportError, replace_section
from .settings import Settings

EVALUATION = "retrieval_eval.json"
BENCHMARK = "benchmark.json"
LOAD_TEST = "load_test.json"
# deploy/kubernetes/autoscaler.yaml: CPU target and the replicas it never goes below.
PLANNED_LOADS = (10, 100, 1_000)
# Relative to the README, which links to it.
FIGURE = Path("docs/retrieval_eval.png")
FIGURE_METRIC = "ndcg@10"
FIGURE_CAPTION = "nDCG@10 on test questions by chunking strategy and retriever, with intervals"


class EvaluatedConfig(BaseModel):
    chunking: str
    retriever: str
    chunks: int = Field(ge=0)
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = Field(default_factory=dict)
    fusion: str | None = None

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
    seed: int = 42


class CorpusRecord(BaseModel):
    path: str
    sha256: str


class SplitRecord(BaseModel):
    seed: int
    dev_fraction: float
    dev: list[str]
    test: list[str]


class ComparisonRecord(BaseModel):
    chunking: str
    single: str
    metric: str
    difference: tuple[float, float, float]
    verdict: str


class FusionRecord(BaseModel):
    choice: str
    dev_ndcg_at_10: float


class HardQuestion(BaseModel):
    question: str
    ndcg_at_10: float = Field(alias="ndcg@10")


class AbstentionExamples(BaseModel):
    answered_out_of_scope: list[str] = Field(default_factory=list)
    abstained_in_scope: list[str] = Field(default_factory=list)


class Evaluation(BaseModel):
    """What `make evaluate` writes to results/retrieval_eval.json."""

    embedding_model: str
    corpus: CorpusRecord
    documents: int
    queries: int
    dev_queries: int
    judgements: int
    split: SplitRecord
    settings: EvaluatedSettings
    results: list[EvaluatedConfig] = Field(min_length=1)
    fusion: dict[str, FusionRecord] = Field(default_factory=dict)
    comparisons: list[ComparisonRecord] = Field(default_factory=list)
    abstention: Abstention | None = None
    hardest: list[HardQuestion] = Field(default_factory=list)
    abstention_examples: AbstentionExamples = Field(default_factory=AbstentionExamples)


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


class LoadTest(BaseModel):
    """What `make load-test` writes to results/load_test.json."""

    requests: int = Field(ge=1)
    concurrency: int = Field(ge=1)
    retriever: str
    errors: int = Field(ge=0)
    seconds: float
    requests_per_second: float = Field(ge=0)
    p50_ms: float
    p95_ms: float
    p99_ms: float
    machine: str
    load_average: float | None = None


Results = TypeVar("Results", Evaluation, Benchmark, LoadTest)


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
    return f"nDCG@10 {_with_interval(config, 'ndcg@10')}, MRR@10 {_with_interval(config, 'mrr@10')}"


def _with_interval(config: EvaluatedConfig, metric: str) -> str:
    value = f"{config.metrics[metric]:.3f}"
    if metric not in config.intervals:
        return value
    low, high = config.intervals[metric]
    return f"{value} [{low:.3f}, {high:.3f}]"


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
    split = evaluation.split
    lines = [
        f"`{evaluation.corpus.path}` (sha256 {evaluation.corpus.sha256[:12]}): "
        f"{evaluation.documents} documents; {evaluation.embedding_model}, chunks of at most "
        f"{knobs.chunk_size} characters ({knobs.chunk_overlap} overlap for `fixed`), "
        f"candidate depth {knobs.candidate_depth}. The judged questions are split at random "
        f"(seed {split.seed}): hybrid fusion and the abstention threshold are chosen on "
        f"{evaluation.dev_queries} dev questions, and every figure here is on the other "
        f"{evaluation.queries} test questions ({evaluation.judgements} graded judgements), "
        "with 95% bootstrap intervals over those questions.",
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


def findings_section(evaluation: Evaluation) -> str:
    """What the numbers say, in words decided by the numbers: a retriever "wins" only
    when the interval of its per-question difference excludes zero."""
    real = [r for r in evaluation.results if r.retriever != BASELINE]
    scores = [r.metrics["ndcg@10"] for r in real]
    floors = [r.metrics["ndcg@10"] for r in evaluation.results if r.retriever == BASELINE]
    lines = [
        f"- **Every real configuration scores nDCG@10 {min(scores):.3f} to {max(scores):.3f}**"
        + (f" against {floors[0]:.3f} for a random ranking." if floors else ".")
    ]
    for comparison in evaluation.comparisons:
        value, low, high = comparison.difference
        fusion = evaluation.fusion.get(comparison.chunking)
        chosen = f" ({fusion.choice}, chosen on dev)" if fusion else ""
        said = {
            "wins": "**wins**",
            "loses": "**loses**",
            "ties": "cannot be told apart from it (the interval includes zero)",
        }[comparison.verdict]
        lines.append(
            f"- With `{comparison.chunking}` chunks, hybrid{chosen} against {comparison.single} "
            f"alone, its best single retriever on test: {value:+.3f} nDCG@10 per question "
            f"[{low:+.3f}, {high:+.3f}]; hybrid {said}."
        )
    by_chunking: dict[str, list[float]] = {}
    for row in real:
        by_chunking.setdefault(row.chunking, []).append(row.metrics["ndcg@10"])
    spread = {name: max(values) - min(values) for name, values in by_chunking.items()}
    if spread:
        widest = max(spread, key=lambda name: spread[name])
        lines.append(
            f"- Retrievers differ by up to {spread[widest]:.3f} nDCG@10 within one chunking "
            f"(`{widest}`); intervals that overlap are not a ranking."
        )
    abstention = evaluation.abstention
    if abstention is None or abstention.threshold is None:
        lines.append(
            "- **No abstention threshold**: the corpus has no `out_of_scope.jsonl` questions "
            "to choose one on, so the API answers every question."
        )
    else:
        lines.append(
            f"- **Abstention** (best dense cosine below {abstention.threshold:.3f}, chosen on "
            f"{abstention.dev_in_scope} + {abstention.dev_out_of_scope} dev questions): on "
            f"test it declined {abstention.abstained_out_of_scope} of "
            f"{abstention.test_out_of_scope} out-of-scope questions (recall "
            f"{abstention.recall:.2f}) and {abstention.abstained_in_scope} of "
            f"{abstention.test_in_scope} answerable ones (precision {abstention.precision:.2f})."
        )
    return "\n".join(lines)


def failures_section(evaluation: Evaluation) -> str:
    """The configured pipeline's worst test questions and its abstention mistakes."""
    knobs = evaluation.settings
    lines = [f"Hardest test questions for `{knobs.chunking}` + `{knobs.retriever}`:", ""]
    lines += [f"- nDCG@10 {q.ndcg_at_10:.3f}: {md_text(q.question)}" for q in evaluation.hardest]
    examples = evaluation.abstention_examples
    if evaluation.abstention is not None:
        answered = examples.answered_out_of_scope
        declined = examples.abstained_in_scope
        lines += [
            "",
            "Out-of-scope test questions it still answered: "
            + ("; ".join(f'"{md_text(q)}"' for q in answered) if answered else "none")
            + ".",
            "Answerable test questions it declined: "
            + ("; ".join(f'"{md_text(q)}"' for q in declined) if declined else "none")
            + ".",
        ]
    return "\n".join(lines)


def md_text(text: str) -> str:
    """A question quoted in Markdown: one line, no markup characters acting as markup."""
    flat = " ".join(text.split())
    return "".join(f"\\{c}" if c in "\\`*_[]<>|#" else c for c in flat)


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


def capacity_section(load_test: LoadTest | None) -> str:
    """Replicas for a few steady loads, from one replica's measured /query throughput."""
    if load_test is None or load_test.requests_per_second <= 0:
        return "No load test recorded yet: run `make serve`, then `make load-test`."
    per_replica = load_test.requests_per_second * TARGET_UTILISATION
    busy = ""
    if load_test.load_average is not None:
        busy = f", load average {load_test.load_average:.1f} at the end"
    lines = [
        f"One worker answered {load_test.requests_per_second:,.1f} `/query` requests/s "
        f"({load_test.retriever} retrieval and an extractive answer; p50 "
        f"{load_test.p50_ms:.1f} ms, p99 {load_test.p99_ms:.1f} ms; {load_test.concurrency} "
        f"clients, {load_test.requests:,} requests, {load_test.errors} errors; "
        f"{load_test.machine}{busy}). At the autoscaler's {TARGET_UTILISATION:.0%} CPU target a "
        f"replica of one worker plans for {per_replica:,.1f} requests/s:",
        "",
        *replica_table(load_test.requests_per_second, PLANNED_LOADS, "requests/s"),
    ]
    return "\n".join(lines)


def check_corpus(evaluation: Evaluation, corpus: Path | None) -> None:
    """Refuse results of other documents than CORPUS_PATH holds (when it is here)."""
    if corpus is None or not corpus.exists():
        return
    digest = corpus_sha256(corpus)
    if digest != evaluation.corpus.sha256:
        raise ReportError(
            f"results/{EVALUATION} is from {evaluation.corpus.path} "
            f"(sha256 {evaluation.corpus.sha256[:12]}), not CORPUS_PATH={corpus} "
            f"(sha256 {digest[:12]}): run `make evaluate CORPUS={corpus}` first"
        )


@dataclass(frozen=True)
class Reported:
    """What `make report` rewrote."""

    readme: Path
    figure: Path

    @property
    def summary(self) -> str:
        return f"updated {self.readme} and {self.figure}"


def write_report(settings: Settings, readme: Path = Path("README.md")) -> Reported:
    """`make report`: the README's results and its figure from RESULTS_DIR alone (no
    index, model or MLflow; CORPUS_PATH only to refuse results of other documents)."""
    return Reported(readme, rewrite(settings.results_dir, readme, settings.corpus_path))


def rewrite(results_dir: Path, readme: Path, corpus: Path | None = None) -> Path:
    """Rewrite the README's results sections and redraw the figure.

    Everything is read and rendered before anything is written, and each file is
    replaced atomically: a missing results file or marker leaves both untouched.
    Returns the figure's path.
    """
    evaluation = load(results_dir / EVALUATION, Evaluation, "evaluate")
    check_corpus(evaluation, corpus)
    benchmark_path = results_dir / BENCHMARK
    benchmark = load(benchmark_path, Benchmark, "benchmark") if benchmark_path.exists() else None
    load_test_path = results_dir / LOAD_TEST
    load_test = load(load_test_path, LoadTest, "load-test") if load_test_path.exists() else None
    try:
        text = readme.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{readme} is missing: run the report from the project root") from None
    text = replace_section(text, "retrieval", retrieval_section(evaluation))
    text = replace_section(text, "findings", findings_section(evaluation))
    text = replace_section(text, "failures", failures_section(evaluation))
    text = replace_section(text, "speed", speed_section(benchmark))
    text = replace_section(text, "capacity", capacity_section(load_test))
    figure = readme.parent / FIGURE
    plot(evaluation.results, figure, FIGURE_METRIC)
    write_text(readme, text)
    return figure

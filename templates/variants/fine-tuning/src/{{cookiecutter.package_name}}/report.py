"""The README's results, rebuilt from the last training run (`make report`).

Sources, all in `results/`: `metrics.json`, `predictions.json` and
`training_run.json` (the run's parameters and loss curves), written by
`make train`; `gpu_smoke.json` when `make gpu-smoke` was run; `load_test.json`
when `make load-test` was. The tracking store is never read: the report works
wherever `results/` is, with or without MLflow. Everything is read and
rendered before anything is written, and each file is replaced atomically, so a
missing source leaves the README and the figures as they were.
"""

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dataset import LABELS
from .evaluation import LabelScores, failure_table, failures, normalize, per_label
from .platform.capacity import TARGET_UTILISATION, replica_table
from .platform.files import atomic_path, write_text
from .platform.readme import ReportError, read_json, replace_section
from .platform.stats import Estimate

if TYPE_CHECKING:
    from .settings import Settings

LOSS_FIGURE = Path("docs/figures/training_loss.png")
LABEL_FIGURE = Path("docs/figures/per_label_f1.png")
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro F1"}
TRAIN_REMEDY = "run `make train` first"
TRAIN_AGAIN = "run `make train` again"
# Capacity on paper: deploy/kubernetes/autoscaler.yaml scales at 70% CPU from 2 replicas.
PLANNED_LOADS = (10, 100, 1_000)
LOAD_TEST_REMEDY = "run `make serve`, then `make load-test` again"
# Written by `make train` beside metrics.json: the run's parameters and loss curves.
TRAINING_RUN_FILE = "training_run.json"


@dataclass(frozen=True)
class TrainingRun:
    """What `make train` wrote about the run: its parameters and loss curves as
    (step, loss)."""

    run_id: str
    params: dict[str, object]
    train_loss: list[tuple[int, float]]
    eval_loss: list[tuple[int, float]]


@dataclass(frozen=True)
class Predictions:
    """Test examples with the base and fine-tuned answers, as `make train` wrote them."""

    ids: list[str]
    texts: list[str]
    expected: list[str]
    base: list[str]
    tuned: list[str]


def read_predictions(path: Path) -> Predictions:
    payload = read_json(path, TRAIN_REMEDY)
    try:
        rows = payload["examples"]
        predictions = Predictions(
            [str(row["example_id"]) for row in rows],
            [str(row["text"]) for row in rows],
            [str(row["expected"]) for row in rows],
            [str(row["base"]) for row in rows],
            [str(row["tuned"]) for row in rows],
        )
    except (KeyError, TypeError) as exc:
        raise ReportError(f"{path} lacks {exc}: {TRAIN_AGAIN}") from None
    if not predictions.ids:
        raise ReportError(f"{path} holds no examples: {TRAIN_AGAIN}")
    return predictions


def _points(values: Any) -> list[tuple[int, float]]:
    return [(int(step), float(loss)) for step, loss in values]


def read_training_run(path: Path) -> TrainingRun:
    """Parameters and loss histories of the run, as `make train` wrote them."""
    payload = read_json(path, TRAIN_REMEDY)
    try:
        run = TrainingRun(
            str(payload["run_id"]),
            dict(payload["params"]),
            _points(payload["train_loss"]),
            _points(payload["eval_loss"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"{path} lacks {exc}: {TRAIN_AGAIN}") from None
    if not run.train_loss:
        raise ReportError(f"{path} has no training loss: {TRAIN_AGAIN}")
    return run


def _estimate(payload: Mapping[str, float]) -> Estimate:
    return Estimate(payload["value"], payload["low"], payload["high"])


def evaluation_section(metrics: Mapping[str, Any], run: TrainingRun, tests: int) -> str:
    """Provenance, then base vs fine-tuned with intervals and the lift, then the decision."""
    params = run.params
    base_name = metrics["base_model"]
    steps = metrics["global_step"]
    # What the run used: the recipe's choice, or the setting in runs older than recipes.
    rate = params.get("recipe.learning_rate", params.get("learning_rate", "?"))
    batch = params.get("recipe.batch_size", params.get("batch_size", "?"))
    lines = [
        f"Base model `{base_name}`, LoRA rank {params.get('lora_rank', '?')} on "
        f"`{params.get('lora_target_modules', '?')}`, {steps} optimizer steps "
        f"(learning rate {rate}, batch size {batch}, seed {params.get('seed', '?')}) on "
        f"{metrics.get('device', params.get('device', '?'))}; MLflow run `{run.run_id}`.",
        "",
        f"Test split, {tests} messages; point estimate with 95% bootstrap interval:",
        "",
        "| model | " + " | ".join(METRIC_NAMES.values()) + " |",
        "|---|" + "---|" * len(METRIC_NAMES),
    ]
    rows = {
        f"base (`{base_name}`)": metrics["base_metrics"],
        f"fine-tuned (LoRA, {steps} steps)": metrics["tuned_metrics"],
    }
    for model, estimates in rows.items():
        cells = [str(_estimate(estimates[name])) for name in METRIC_NAMES]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lifts = [
        metrics["tuned_metrics"][name]["value"] - metrics["base_metrics"][name]["value"]
        for name in METRIC_NAMES
    ]
    lines.append("| lift (point estimates) | " + " | ".join(f"{v:+.3f}" for v in lifts) + " |")
    lines.append("")
    if metrics["promoted"]:
        lines.append("The adapter passed the export thresholds and was exported for serving.")
    else:
        reasons = "; ".join(metrics.get("promotion_failures") or ["no reason recorded"])
        lines.append(f"The adapter was **not exported**: {reasons}.")
    return "\n".join(lines)


def per_label_scores(
    predictions: Predictions, labels: Sequence[str] = LABELS
) -> tuple[dict[str, LabelScores], dict[str, LabelScores]]:
    """(base, fine-tuned) precision, recall and F1 of each label on the test split."""
    return (
        per_label(predictions.expected, predictions.base, labels),
        per_label(predictions.expected, predictions.tuned, labels),
    )


def _outside_labels(answers: Sequence[str], labels: Sequence[str]) -> int:
    return sum(normalize(answer) not in labels for answer in answers)


def per_label_section(predictions: Predictions, labels: Sequence[str] = LABELS) -> str:
    base, tuned = per_label_scores(predictions, labels)
    lines = [
        "| label | test messages | base precision | base recall | base F1 "
        "| fine-tuned precision | fine-tuned recall | fine-tuned F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in labels:
        b, t = base[label], tuned[label]
        lines.append(
            f"| {label} | {t.support} | {b.precision:.3f} | {b.recall:.3f} | {b.f1:.3f} "
            f"| {t.precision:.3f} | {t.recall:.3f} | {t.f1:.3f} |"
        )
    total = len(predictions.ids)
    lines += [
        "",
        f"Answers that are not a label: base {_outside_labels(predictions.base, labels)} "
        f"of {total}, fine-tuned {_outside_labels(predictions.tuned, labels)} of {total}.",
        "",
        f"![F1 per label, base vs fine-tuned]({LABEL_FIGURE.as_posix()})",
    ]
    return "\n".join(lines)


def _size(n_bytes: int) -> str:
    if n_bytes < 1024:
        return f"{n_bytes:,} bytes"
    if n_bytes < 1024**2:
        return f"{n_bytes / 1024:,.1f} KiB"
    return f"{n_bytes / 1024**2:,.1f} MiB"


def training_section(metrics: Mapping[str, Any], run: TrainingRun) -> str:
    """Steps, losses, speed and footprint of the run, and its loss curve."""
    first, last = run.train_loss[0], run.train_loss[-1]
    trainable, total = metrics["trainable_parameters"], metrics["total_parameters"]
    rows = [
        ("optimizer steps", f"{metrics['global_step']}"),
        (
            "training loss, first → last logged step",
            f"{first[1]:.3f} (step {first[0]}) → {last[1]:.3f} (step {last[0]})",
        ),
    ]
    if run.eval_loss:
        rows.append(
            (
                "validation loss, first → last evaluation",
                f"{run.eval_loss[0][1]:.3f} → {run.eval_loss[-1][1]:.3f}",
            )
        )
    rows += [
        ("time in optimizer steps", f"{metrics['train_seconds']:.1f} s"),
        (
            "throughput (non-padding tokens in optimizer steps)",
            f"{metrics['tokens_per_second']:,.0f} tokens/s "
            f"({metrics['train_tokens']:,} tokens on {metrics['device']})",
        ),
        ("peak memory", f"{metrics['peak_memory_mb']:,.0f} MiB ({metrics['memory_kind']})"),
        (
            "trainable / total parameters",
            f"{trainable:,} / {total:,} ({100 * trainable / total:.1f}%)",
        ),
        ("adapter weights on disk", _size(metrics["adapter_bytes"])),
    ]
    diff = metrics.get("merge_max_abs_diff")
    rows.append(
        (
            "merged vs adapter, max \\|logit difference\\|",
            "not checked (4-bit base)" if diff is None else f"{diff:.1e}",
        )
    )
    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines += ["", f"![Training loss by step]({LOSS_FIGURE.as_posix()})"]
    return "\n".join(lines)


def failures_section(predictions: Predictions, labels: Sequence[str] = LABELS) -> str:
    cases = failures(predictions.ids, predictions.texts, predictions.expected, predictions.tuned)
    total = len(predictions.ids)
    base_wrong = sum(
        normalize(answer) != truth
        for answer, truth in zip(predictions.base, predictions.expected, strict=True)
    )
    if not cases:
        return (
            f"The fine-tuned model answered all {total} test messages correctly "
            f"(the base got {base_wrong} wrong)."
        )
    return (
        f"The fine-tuned model got {len(cases)} of {total} test messages wrong "
        f"(the base got {base_wrong} wrong); the first ones:\n\n{failure_table(cases)}"
    )


def smoke_section(smoke: Mapping[str, Any] | None) -> str:
    """`make gpu-smoke`'s figures, or how to get them."""
    if smoke is None:
        return (
            "Not measured yet: `make gpu-smoke` (`DEVICE=cuda` on a GPU) writes "
            "`results/gpu_smoke.json`, then run `make report` again."
        )
    rows = [
        ("device", f"{smoke['device']} ({smoke['device_name']}), torch {smoke['torch_version']}"),
        (
            "model",
            f"random weights from a config, {smoke['parameters']:,} parameters "
            f"({smoke['trainable_parameters']:,} trainable, LoRA)",
        ),
        (
            "load",
            f"{smoke['steps']} steps of `make train`'s path, batches of "
            f"{smoke['batch_size']} examples of ~{smoke['sequence_length']} tokens",
        ),
        ("throughput", f"{smoke['tokens_per_second']:,.0f} tokens/s"),
        ("peak memory", f"{smoke['peak_memory_mb']:,.0f} MiB ({smoke['memory_kind']})"),
        ("loss, first → last step", f"{smoke['first_loss']:.3f} → {smoke['last_loss']:.3f}"),
    ]
    lines = ["| `make gpu-smoke` | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def capacity_section(load: Mapping[str, Any] | None) -> str:
    """Replicas for a few steady loads of /generate, from `make load-test`'s figures."""
    if load is None:
        return (
            "Not measured yet: with the API running (`make serve`), `make load-test` "
            "writes `results/load_test.json`, then run `make report` again."
        )
    served = float(load["requests_per_second"])
    if served <= 0:
        return (
            f"The last load test got no answer ({load['errors']} errors of "
            f"{load['requests']}): {LOAD_TEST_REMEDY}."
        )
    per_replica = served * TARGET_UTILISATION
    lines = [
        f"One replica (one worker, `{load['model_version']}`, {load['machine']}) "
        f"answered {served:,.2f} generations/s of up to {load['max_new_tokens']} new "
        f"tokens with {load['concurrency']} clients waiting their turn: p50 "
        f"{load['p50_ms']:,.0f} ms, p99 {load['p99_ms']:,.0f} ms, {load['errors']} "
        f"errors in {load['requests']} requests. At the autoscaler's "
        f"{TARGET_UTILISATION:.0%} target a replica plans for {per_replica:,.2f} "
        "generations/s:",
        "",
        *replica_table(served, PLANNED_LOADS, "generations/s"),
    ]
    return "\n".join(lines)


def _png(figure: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def plot_loss(run: TrainingRun) -> bytes:
    """Training loss by step (log scale) with the validation loss of each evaluation."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    steps, losses = zip(*run.train_loss, strict=True)
    axes.plot(steps, losses, label="training loss", linewidth=1.5)
    if run.eval_loss:
        eval_steps, eval_losses = zip(*run.eval_loss, strict=True)
        axes.plot(eval_steps, eval_losses, "o--", label="validation loss")
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set(xlabel="optimizer step", ylabel="loss (log scale)", title="Fine-tuning loss")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return _png(figure)


def plot_per_label(
    base: Mapping[str, LabelScores], tuned: Mapping[str, LabelScores], labels: Sequence[str]
) -> bytes:
    """F1 of each label, base and fine-tuned side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    positions = range(len(labels))
    width = 0.38
    axes.bar(
        [p - width / 2 for p in positions], [base[lb].f1 for lb in labels], width, label="base"
    )
    axes.bar(
        [p + width / 2 for p in positions],
        [tuned[lb].f1 for lb in labels],
        width,
        label="fine-tuned",
    )
    axes.set_xticks(list(positions), list(labels))
    axes.set(ylim=(0, 1.2), ylabel="F1 on the test split", title="F1 per label")
    axes.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.legend(loc="upper center", ncol=2)
    return _png(figure)


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def build(readme: Path, results_dir: Path) -> list[Path]:
    """Rewrite the README's results sections and its figures; return what was written."""
    metrics = read_json(results_dir / "metrics.json", TRAIN_REMEDY)
    predictions = read_predictions(results_dir / "predictions.json")
    run = read_training_run(results_dir / TRAINING_RUN_FILE)
    smoke_path = results_dir / "gpu_smoke.json"
    smoke_remedy = "run `make gpu-smoke` again"
    smoke = read_json(smoke_path, smoke_remedy) if smoke_path.is_file() else None
    load_path = results_dir / "load_test.json"
    load = read_json(load_path, LOAD_TEST_REMEDY) if load_path.is_file() else None
    try:
        sections = {
            "evaluation": evaluation_section(metrics, run, len(predictions.ids)),
            "per-label": per_label_section(predictions),
            "training": training_section(metrics, run),
            "failures": failures_section(predictions),
        }
    except KeyError as exc:
        raise ReportError(f"{results_dir / 'metrics.json'} lacks {exc}: {TRAIN_AGAIN}") from None
    try:
        sections["smoke"] = smoke_section(smoke)
    except KeyError as exc:
        raise ReportError(f"{smoke_path} lacks {exc}: {smoke_remedy}") from None
    try:
        sections["capacity"] = capacity_section(load)
    except KeyError as exc:
        raise ReportError(f"{load_path} lacks {exc}: {LOAD_TEST_REMEDY}") from None
    try:
        text = readme.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{readme} is missing: pass --readme with the project's README") from None
    for name, body in sections.items():
        text = replace_section(text, name, body)
    base, tuned = per_label_scores(predictions)
    figures = {
        readme.parent / LOSS_FIGURE: plot_loss(run),
        readme.parent / LABEL_FIGURE: plot_per_label(base, tuned, LABELS),
    }
    for path, data in figures.items():
        _write_bytes(path, data)
    write_text(readme, text)
    return [readme, *figures]


@dataclass(frozen=True)
class ReportResult:
    """The files `make report` rewrote."""

    written: tuple[Path, ...]

    def summary(self) -> str:
        return "updated " + ", ".join(str(path) for path in self.written)


def run(settings: "Settings", readme: Path = Path("README.md")) -> ReportResult:
    """`make report`: the README's results sections and docs/figures/ from results/ alone."""
    return ReportResult(tuple(build(readme, settings.results_dir)))

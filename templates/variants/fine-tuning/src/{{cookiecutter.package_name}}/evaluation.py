"""Task metrics with bootstrap confidence intervals, and the failure-case table (pure).

A prediction is the first word of the generated answer, lower-cased; anything
outside the label set counts as wrong (it is also how an untrained model fails).
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .platform.stats import Estimate, percentile_interval

if TYPE_CHECKING:
    from .settings import Settings

_WORD = re.compile(r"[a-z]+")


def normalize(answer: str) -> str:
    """`" Cancel.\\n"` -> `"cancel"`; empty when the answer holds no word."""
    match = _WORD.search(answer.lower())
    return match.group(0) if match else ""


def _accuracy(truth: np.ndarray, predicted: np.ndarray, _labels: int) -> np.ndarray:
    result: np.ndarray = (truth == predicted).mean(axis=1)
    return result


def _macro_f1(truth: np.ndarray, predicted: np.ndarray, labels: int) -> np.ndarray:
    """Macro F1 over the label set, row by row; a label absent from a row scores 0."""
    scores = np.zeros(truth.shape[0])
    for label in range(labels):
        actual, guessed = truth == label, predicted == label
        tp = (actual & guessed).sum(axis=1)
        denominator = actual.sum(axis=1) + guessed.sum(axis=1)
        f1 = np.zeros_like(scores)
        np.divide(2 * tp, denominator, out=f1, where=denominator > 0)
        scores += f1
    result: np.ndarray = scores / labels
    return result


METRICS = {"accuracy": _accuracy, "macro_f1": _macro_f1}


def evaluate(
    expected: Sequence[str],
    predicted: Sequence[str],
    labels: Sequence[str],
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Accuracy (exact match) and macro F1 with percentile bootstrap intervals.

    Both metrics share one set of resamples, so their intervals are comparable.
    """
    if len(expected) != len(predicted) or not expected:
        raise ValueError(
            f"need equal, non-empty lists; got {len(expected)} expected, {len(predicted)} predicted"
        )
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(expected) - set(index))
    if unknown:
        raise ValueError(f"expected labels {unknown} are not in the label set {list(labels)}")
    truth = np.array([index[label] for label in expected])
    # Out-of-set answers get -1: never equal to a label, never counted as one.
    guess = np.array([index.get(normalize(answer), -1) for answer in predicted])
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(truth), size=(n_bootstrap, len(truth)))
    estimates = {}
    for name, metric in METRICS.items():
        resampled = metric(truth[rows], guess[rows], len(labels))
        low, high = percentile_interval(resampled, confidence)
        point = float(metric(truth[None, :], guess[None, :], len(labels))[0])
        estimates[name] = Estimate(point, low, high)
    return estimates


@dataclass(frozen=True)
class LabelScores:
    """One label's precision, recall and F1 (point estimates) and its test support."""

    precision: float
    recall: float
    f1: float
    support: int


def per_label(
    expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, LabelScores]:
    """Precision, recall and F1 of each label; a label never predicted has precision 0."""
    guesses = [normalize(answer) for answer in predicted]
    scores = {}
    for label in labels:
        pairs = list(zip(expected, guesses, strict=True))
        tp = sum(truth == label and guess == label for truth, guess in pairs)
        actual = sum(truth == label for truth, _ in pairs)
        guessed = sum(guess == label for _, guess in pairs)
        precision = tp / guessed if guessed else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * tp / (actual + guessed) if actual + guessed else 0.0
        scores[label] = LabelScores(precision, recall, f1, actual)
    return scores


@dataclass(frozen=True)
class Failure:
    example_id: str
    text: str
    expected: str
    predicted: str


def failures(
    ids: Sequence[str], texts: Sequence[str], expected: Sequence[str], predicted: Sequence[str]
) -> list[Failure]:
    """Every example the model got wrong, in data order."""
    return [
        Failure(example_id, text, truth, answer.strip())
        for example_id, text, truth, answer in zip(ids, texts, expected, predicted, strict=True)
        if normalize(answer) != truth
    ]


def _cell(text: str, width: int = 80) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def failure_table(cases: Sequence[Failure], limit: int = 10) -> str:
    """Markdown table of the first `limit` failures; a sentence when there are none."""
    if not cases:
        return "None: every test message got its expected label."
    lines = ["| id | message | expected | predicted |", "|---|---|---|---|"]
    for case in cases[:limit]:
        shown = _cell(case.predicted) or "(empty)"
        lines.append(f"| {case.example_id} | {_cell(case.text)} | {case.expected} | {shown} |")
    if len(cases) > limit:
        lines.append(f"| … | {len(cases) - limit} more | | |")
    return "\n".join(lines)


def comparison_table(rows: Mapping[str, Mapping[str, Estimate]]) -> str:
    """One row per model, one column per metric, each `value [low, high]`."""
    names = list(next(iter(rows.values())))
    lines = ["| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for model, estimates in rows.items():
        lines.append(f"| {model} | " + " | ".join(str(estimates[n]) for n in names) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class EvaluateResult:
    """The last run's comparison and failure cases, and the line that sums them up."""

    report: str
    verdict: str | None

    def summary(self) -> str:
        return "\n\n".join(part for part in (self.report.rstrip(), self.verdict) if part)


def _verdict(metrics: Mapping[str, Any]) -> str | None:
    """`run <id>: 12 failure cases; adapter exported`, from results/metrics.json."""
    try:
        failures = "; ".join(metrics["promotion_failures"])
        outcome = "adapter exported" if metrics["promoted"] else f"not exported: {failures}"
        return f"run {metrics['run_id']}: {metrics['failures']} failure cases; {outcome}"
    except (KeyError, TypeError):
        return None


def run(settings: "Settings") -> EvaluateResult:
    """`make evaluate`: the last training run's report (results/evaluation.md)."""
    report = settings.results_dir / "evaluation.md"
    if not report.is_file():
        raise FileNotFoundError(f"{report} is missing: run `make train` first")
    try:
        metrics = json.loads((settings.results_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metrics = {}
    verdict = _verdict(metrics) if isinstance(metrics, dict) else None
    return EvaluateResult(report.read_text(encoding="utf-8"), verdict)

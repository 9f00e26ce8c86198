"""The README's results, rebuilt from the results files and the served model.

`make report` runs `build`: metrics with intervals from `results/metrics.json`,
latency from every `results/load_test*.json`, and a figure of the champion's ROC
curve and calibration on the held-out split, saved under `docs/figures/`.
"""

from pathlib import Path
from typing import Any

import numpy as np

from .platform.capacity import TARGET_UTILISATION, replica_table
from .platform.readme import ReportError

METRIC_COLUMNS = {
    "roc_auc": "ROC AUC",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "accuracy": "accuracy",
    "brier": "Brier",
}
FIGURE = Path("docs/figures/model_curves.png")


def _cell(estimate: dict[str, float]) -> str:
    return f"{estimate['value']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]"


def metrics_table(results: dict[str, Any]) -> str:
    """The candidate and the baseline, each metric with its bootstrap interval."""
    status = "champion" if results["promoted"] else "not promoted"
    rows = [
        (f"{results.get('model', 'candidate')} ({status})", results["metrics"]),
        ("baseline: training churn rate", results["baseline_metrics"]),
    ]
    lines = [
        "| model | " + " | ".join(METRIC_COLUMNS.values()) + " |",
        "|---|" + "---|" * len(METRIC_COLUMNS),
    ]
    for label, metrics in rows:
        lines.append(f"| {label} | " + " | ".join(_cell(metrics[m]) for m in METRIC_COLUMNS) + " |")
    return "\n".join(lines)


def latency_table(runs: list[dict[str, Any]]) -> str:
    """One row per load-test results file."""
    if not runs:
        return "No load test recorded yet: run `make serve`, then `make load-test`."
    lines = [
        "| load | requests | errors | requests/s | predictions/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        per = "account" if run["batch_size"] == 1 else "accounts"
        clients = (
            f"{run['target_rate']:g} requests/s, open loop"
            if run.get("target_rate")
            else f"{run['concurrency']} clients"
        )
        load = f"{run['batch_size']} {per} per request, {clients}"
        lines.append(
            f"| {load} | {run['requests']:,} | {run['errors']} | {run['requests_per_second']:,} "
            f"| {run['predictions_per_second']:,} | {run['p50_ms']:.2f} | {run['p95_ms']:.2f} "
            f"| {run['p99_ms']:.2f} |"
        )
    return "\n".join(lines)


PLANNED_LOADS = (100, 1_000, 10_000)


def capacity_table(runs: list[dict[str, Any]]) -> str:
    """Replicas for a few steady loads, from the best closed-loop one-account run."""
    closed = [r for r in runs if r["batch_size"] == 1 and not r.get("target_rate")]
    if not closed:
        return "No closed-loop load test recorded yet: run `make serve`, then `make load-test`."
    best = max(closed, key=lambda run: float(run["requests_per_second"]))
    per_replica = float(best["requests_per_second"]) * TARGET_UTILISATION
    lines = [
        f"One worker sustained {best['requests_per_second']:,} requests/s "
        f"(p99 {best['p99_ms']:.1f} ms, {best['concurrency']} clients, "
        f"{best.get('machine', 'machine not recorded')}). At the autoscaler's "
        f"{TARGET_UTILISATION:.0%} CPU target a replica of one worker plans for "
        f"{per_replica:,.0f} requests/s:",
        "",
        *replica_table(float(best["requests_per_second"]), PLANNED_LOADS, "requests/s"),
    ]
    return "\n".join(lines)


def held_out_scores(results: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The held-out outcomes and churn probabilities `make train` recorded."""
    scores = results.get("held_out_scores")
    if not isinstance(scores, dict):
        raise ReportError(
            "results/metrics.json has no held-out scores (written before they were "
            "recorded): run `make train` again"
        )
    return np.asarray(scores["churned"]), np.asarray(scores["churn_probability"])


def plot_curves(y_true: np.ndarray, y_prob: np.ndarray, path: Path) -> None:
    """ROC curve and reliability diagram side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, y_prob)
    observed, predicted = calibration_curve(y_true, y_prob, n_bins=10, strategy="quantile")
    figure, (roc, calibration) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=100)
    roc.plot(fpr, tpr, label="champion")
    roc.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, held-out")
    roc.legend(loc="lower right")
    calibration.plot(predicted, observed, marker="o", label="champion")
    calibration.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    calibration.set(
        xlabel="mean predicted probability",
        ylabel="observed churn rate",
        title="Calibration, held-out deciles",
    )
    calibration.legend(loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)

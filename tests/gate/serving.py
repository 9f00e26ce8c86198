"""Serving's gate proofs: the trained model beats its baseline and the README quotes
that very run; compose tracks with the client's MLflow; the API predicts, refuses
bad input by field, holds under load and survives schemathesis."""

from __future__ import annotations

import json
import subprocess

import yaml

from gate.contract import Gate, Reported, VariantProofs
from support import CHURNING_ACCOUNT, bounded_load, call, schema_fuzz


def _trained(gate: Gate, output: str) -> None:
    project = gate.project
    assert "promoted to champion" in output
    # The command's log file keeps the run's story at INFO, whatever LOG_LEVEL says.
    log = (project / "logs" / "train.log").read_text(encoding="utf-8")
    assert "training on " in log
    assert "registered model version " in log
    assert "is the champion" in log
    metrics = gate.results("metrics.json")
    auc = metrics["metrics"]["roc_auc"]
    assert auc["low"] > metrics["baseline_metrics"]["roc_auc"]["high"]
    # The README quotes this very run: the bundled data and the seeds fix it.
    quoted = f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]"
    readme = gate.readme()
    assert f"| logistic regression (champion) | {quoted} |" in readme
    # `make report` rebuilds the README's results from results/: same run, same text.
    gate.make("report")
    assert gate.readme() == readme
    figure = project / "docs" / "figures" / "model_curves.png"
    assert figure.stat().st_size > 10_000

    # compose's tracking server runs the release the client was resolved to.
    client = subprocess.run(
        [
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('mlflow-skinny'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    server = yaml.safe_load((project / "compose.yaml").read_text())["services"][
        "mlflow"
    ]
    assert server["image"].rsplit(":v", 1)[1] == client, (
        "update compose.yaml's MLflow tag"
    )


def _reported(_: Gate, reported: Reported) -> None:
    """From results/ alone, the same README and figure as with everything in place."""
    assert reported.after == reported.before
    assert reported.figure.stat().st_size > 10_000


def _predicts(_: Gate, base: str) -> None:
    account = CHURNING_ACCOUNT
    single = call(f"{base}/predict", account)
    batch = call(f"{base}/predict", {"instances": [account, account]})
    invalid = call(f"{base}/predict", account | {"tenure_months": "soon"})
    load = bounded_load(f"{base}/predict", account, requests=500)
    # Scraped before schemathesis adds its own 422s.
    metrics_text = call(f"{base}/metrics")[1]
    fuzzed = schema_fuzz(base)

    assert single[0] == 200
    assert json.loads(single[1])["predictions"][0]["churn"] is True
    assert len(json.loads(batch[1])["predictions"]) == 2
    assert invalid[0] == 422
    assert "tenure_months" in invalid[1]
    assert "No issues found" in fuzzed
    assert load["requests"] == 500
    assert load["errors"] == 0
    assert (
        'http_requests_total{method="POST",route="/predict",status="422"} 1.0'
        in metrics_text
    )


PROOFS = VariantProofs(
    variant="serving",
    figure="docs/figures/model_curves.png",
    tests_at_least=15,
    after_step={"train": _trained},
    after_report=_reported,
    while_serving=_predicts,
)

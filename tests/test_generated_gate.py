"""A generated project installs, trains, serves and passes its own gate, offline.

These are the slowest tests of the suite: each bakes a project, syncs it with uv
(sharing uv's cache), then runs the project's own Make targets exactly as a user
would. Only `make install` may reach the package index; everything after it runs
with UV_OFFLINE=1 and the offline switches the generated tests also set.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import yaml

from support import (
    CHURNING_ACCOUNT,
    REPO,
    bounded_load,
    call,
    make,
    poll,
    running_api,
    schema_fuzz,
)

HOSTILE_NAME = 'Zz O\'Brien "Model" \\ v2 Über-long name for the longest package'


@pytest.fixture
def serving_project(
    fresh_bake: Callable[[Mapping[str, str]], Path],
) -> Path:
    project = fresh_bake({"variant": "serving", "init_git": "yes"})
    make(project, "install", offline=False)
    return project


def _report_reads_results_only(project: Path, readme: str, figure: Path) -> None:
    """The verb contract: with the model, the tracking store and the data out of
    reach, `make report` writes the same README and figure from results/ alone."""
    away = ("models", "mlflow.db", "data")
    for name in away:
        (project / name).rename(project / f"{name}.away")
    try:
        figure.unlink()
        make(project, "report")
    finally:
        for name in away:
            (project / f"{name}.away").rename(project / name)
    assert (project / "README.md").read_text(encoding="utf-8") == readme
    assert figure.stat().st_size > 10_000


def test_serving_project_trains_passes_its_gate_and_serves(
    serving_project: Path,
) -> None:
    project = serving_project
    trained = make(project, "train")
    assert "promoted to champion" in trained
    metrics = json.loads((project / "results" / "metrics.json").read_text())
    auc = metrics["metrics"]["roc_auc"]
    assert auc["low"] > metrics["baseline_metrics"]["roc_auc"]["high"]
    # The README quotes this very run: the bundled data and the seeds fix it.
    quoted = f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]"
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert f"| logistic regression (champion) | {quoted} |" in readme
    # `make report` rebuilds the README's results from results/: same run, same text.
    make(project, "report")
    assert (project / "README.md").read_text(encoding="utf-8") == readme
    figure = project / "docs" / "figures" / "model_curves.png"
    assert figure.stat().st_size > 10_000
    _report_reads_results_only(project, readme, figure)

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
    # As a user runs it right after generating: cookiecutter's virtualenv still active.
    gate = make(project, "check", extra_env={"VIRTUAL_ENV": str(REPO / ".venv")})
    assert "VIRTUAL_ENV" not in gate
    passed = int(gate.rsplit(" passed", 1)[0].rsplit(" ", 1)[-1])
    assert passed >= 15
    assert "Required test coverage of 90" in gate

    account = CHURNING_ACCOUNT
    with running_api(project) as base:
        ready = poll(f"{base}/ready", lambda status, _: status == 200, 120)
        health = call(f"{base}/health")
        single = call(f"{base}/predict", account)
        batch = call(f"{base}/predict", {"instances": [account, account]})
        invalid = call(f"{base}/predict", account | {"tenure_months": "soon"})
        load = bounded_load(f"{base}/predict", account, requests=500)
        metrics_text = call(f"{base}/metrics")[1]
        fuzzed = schema_fuzz(base)

    assert ready[0] == 200, f"the API never became ready: {ready}"
    assert health == (200, '{"status":"ok"}')
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


def test_hostile_answers_still_give_a_project_that_passes_its_gate(
    fresh_bake: Callable[[Mapping[str, str]], Path],
) -> None:
    project = fresh_bake(
        {
            "variant": "serving",
            "project_name": HOSTILE_NAME,
            "description": "Says \"hi\" \\ and O'Brien's $HOME `rm -rf` <b>x</b> # no",
            "author_name": 'Zoë "Zed" O\'Brien \\',
            "init_git": "no",
            "license": "Apache-2.0",
        }
    )
    make(project, "install", offline=False)

    gate = make(project, "check")

    assert "Required test coverage of 90" in gate

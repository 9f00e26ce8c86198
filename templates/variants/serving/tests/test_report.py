import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.platform.readme import read_json
from {{ cookiecutter.package_name }}.report import (
    FIGURE,
    capacity_table,
    latency_table,
    metrics_table,
    plot_curves,
)
from {{ cookiecutter.package_name }}.settings import get_settings

from variant_fixtures import Trained

RUN = {
    "batch_size": 1,
    "concurrency": 8,
    "errors": 0,
    "requests": 3000,
    "requests_per_second": 594.8,
    "predictions_per_second": 594.8,
    "p50_ms": 11.834,
    "p95_ms": 25.49,
    "p99_ms": 33.77,
}


@pytest.mark.slow
def test_metrics_table_quotes_the_run_with_intervals(trained: Trained) -> None:
    results = read_json(trained.settings.results_dir / "metrics.json", "train")
    auc = trained.result.metrics["roc_auc"]

    table = metrics_table(results).splitlines()

    assert table[0].startswith("| model | ROC AUC | F1 |")
    assert table[2].startswith(f"| logistic regression (champion) | {auc} |")
    assert table[3].startswith("| baseline: training churn rate | 0.500 [0.500, 0.500] |")


def test_latency_table_has_a_row_per_run() -> None:
    table = latency_table([RUN, RUN | {"batch_size": 100, "concurrency": 4}])

    assert table.splitlines()[2] == (
        "| 1 account per request, 8 clients | 3,000 | 0 | 594.8 | 594.8 | 11.83 | 25.49 | 33.77 |"
    )
    assert table.splitlines()[3].startswith("| 100 accounts per request, 4 clients |")


def test_latency_table_names_an_open_loop_run_by_its_rate() -> None:
    row = latency_table([RUN | {"concurrency": 0, "target_rate": 200.0}]).splitlines()[2]

    assert row.startswith("| 1 account per request, 200 requests/s, open loop |")


def test_latency_section_without_runs_says_how_to_make_one() -> None:
    assert "make load-test" in latency_table([])


def test_figure_is_a_non_blank_png_of_the_expected_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    path = tmp_path / "curves.png"

    plot_curves(y, p, path)

    pixels = image.imread(str(path))
    assert pixels.shape[:2] == (450, 1000)
    assert float(np.std(pixels)) > 0.05


@pytest.mark.slow
def test_report_rewrites_only_the_results_sections(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    shutil.copytree(trained.settings.results_dir, results)
    (results / "load_test.json").write_text(json.dumps(RUN))
    readme = tmp_path / "README.md"
    readme.write_text(
        "Intro.\n<!-- results:metrics -->\nold\n<!-- /results:metrics -->\n"
        "Middle.\n<!-- results:latency -->\nold\n<!-- /results:latency -->\n"
        "Scale.\n<!-- results:capacity -->\nold\n<!-- /results:capacity -->\nEnd.\n"
    )
    monkeypatch.setenv("RESULTS_DIR", str(results))
    # results/ alone: no model to load, no data to read, no tracking store.
    monkeypatch.setenv("MODEL_URI", str(tmp_path / "no-model"))
    monkeypatch.setenv("DATA_PATH", str(tmp_path / "no-data.csv"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'no-store' / 'x.db'}")
    get_settings.cache_clear()

    outcome = CliRunner().invoke(app, ["report", "--readme", str(readme)])

    assert outcome.exit_code == 0, outcome.output
    text = readme.read_text()
    assert "old" not in text
    assert text.startswith("Intro.\n")
    assert "\nMiddle.\n" in text
    assert text.endswith("End.\n")
    assert f"| {trained.result.metrics['roc_auc']} |" in text
    assert "| 1 account per request, 8 clients |" in text
    assert "| 1,000 requests/s |" in text
    assert Path(FIGURE).is_file()


def test_report_without_a_training_run_exits_1(tmp_path: Path) -> None:
    get_settings.cache_clear()

    outcome = CliRunner().invoke(app, ["report", "--readme", str(tmp_path / "README.md")])

    assert outcome.exit_code == 1
    assert "make train" in outcome.output


def test_capacity_plans_replicas_from_the_best_closed_loop_run() -> None:
    runs = [
        RUN | {"requests_per_second": 400.0},
        RUN | {"requests_per_second": 500.0, "p99_ms": 30.0},
        RUN | {"requests_per_second": 9_000.0, "target_rate": 9_000.0},  # open loop
        RUN | {"requests_per_second": 900.0, "batch_size": 100},
    ]

    text = capacity_table(runs)

    assert "One worker sustained 500.0 requests/s (p99 30.0 ms" in text
    assert "plans for 350 requests/s" in text  # 70% of 500
    assert "| 100 requests/s | 2 |" in text  # never fewer than two
    assert "| 1,000 requests/s | 3 |" in text  # ceil(1000 / 350)
    assert "| 10,000 requests/s | 29 |" in text  # ceil(10000 / 350)


def test_capacity_says_what_to_run_without_a_closed_loop_run() -> None:
    assert "run `make serve`, then `make load-test`" in capacity_table([])


def test_report_on_results_from_before_the_scores_were_recorded_says_to_retrain(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    summary = read_json(trained.settings.results_dir / "metrics.json", "")
    del summary["held_out_scores"]
    (results / "metrics.json").write_text(json.dumps(summary))
    monkeypatch.setenv("RESULTS_DIR", str(results))
    get_settings.cache_clear()

    outcome = CliRunner().invoke(app, ["report", "--readme", str(tmp_path / "README.md")])

    assert outcome.exit_code == 1
    assert "no held-out scores" in outcome.output
    assert "make train" in outcome.output

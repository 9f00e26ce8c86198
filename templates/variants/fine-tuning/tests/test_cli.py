import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }} import train as train_module
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.settings import get_settings

from variant_fixtures import BUNDLED_DATA, Trained

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


def test_help_lists_every_job() -> None:
    result = runner.invoke(app, ["--help"])

    for command in ("data", "train", "evaluate", "report", "serve", "gpu-smoke"):
        assert command in result.output


def test_data_command_writes_the_three_splits(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "--output-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert len((tmp_path / "test.jsonl").read_text().splitlines()) == 150


def test_evaluate_without_a_run_says_to_train_first() -> None:
    result = runner.invoke(app, ["evaluate"])

    assert result.exit_code == 1
    assert "make train" in result.output


def test_evaluate_prints_the_last_report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "evaluation.md").write_text("| base | 0.1 |\n", encoding="utf-8")

    result = runner.invoke(app, ["evaluate"])

    assert result.exit_code == 0
    assert "| base | 0.1 |" in result.output


def test_evaluate_ends_with_the_runs_verdict(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "evaluation.md").write_text("| base | 0.1 |\n", encoding="utf-8")
    metrics = {"run_id": "abc", "failures": 3, "promoted": True, "promotion_failures": []}
    (tmp_path / "results" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")

    result = runner.invoke(app, ["evaluate"])

    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("run abc: 3 failure cases; adapter exported")


def test_train_with_broken_data_fails_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("oops\n", encoding="utf-8")

    result = runner.invoke(app, ["train"])

    assert result.exit_code == 1
    assert "train.jsonl:1: not valid JSON" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("promoted", [True, False])
def test_train_reports_the_comparison_and_the_export_decision(
    trained: Trained, monkeypatch: pytest.MonkeyPatch, promoted: bool
) -> None:
    failures = [] if promoted else ["accuracy=0.1000 is below the minimum 0.6000"]
    outcome = replace(trained.result, promoted=promoted, promotion_failures=failures)
    monkeypatch.setattr(train_module, "run", lambda _settings, announce: outcome)
    monkeypatch.setenv("BASE_MODEL", "tiny")
    monkeypatch.setenv("DATA_DIR", str(BUNDLED_DATA))

    result = runner.invoke(app, ["train"])

    assert result.exit_code == 0, result.output
    assert str(outcome.tuned_metrics["accuracy"]) in result.output
    assert "max |logit diff|" in result.output
    expected = "adapter exported to" if promoted else "not exported: accuracy=0.1000"
    assert expected in result.output


def test_train_on_an_unreachable_hub_fails_before_loading_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATA_DIR", str(BUNDLED_DATA))
    monkeypatch.setenv("BASE_MODEL", "acme/not-downloaded-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(train_module, "load", never)
    result = runner.invoke(app, ["train"])

    assert result.exit_code == 1
    assert "BASE_MODEL=tiny" in result.output
    assert "Traceback" not in result.output


def test_gpu_smoke_on_cpu_writes_its_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "smoke.json"
    monkeypatch.setenv("DATA_DIR", str(BUNDLED_DATA))

    result = runner.invoke(
        app, ["gpu-smoke", "--device", "cpu", "--steps", "2", "--output", str(output)]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(output.read_text())["device"] == "cpu"


@pytest.mark.parametrize("device", ["tpu", "cuda"])
def test_gpu_smoke_refuses_a_device_it_cannot_use(device: str) -> None:
    pytest.importorskip("torch")
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = runner.invoke(app, ["gpu-smoke", "--device", device])

    assert result.exit_code == 1
    assert "device" in result.output


def test_serve_starts_the_app_factory_on_the_requested_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    captured: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: captured.update(kw, target=target))

    result = runner.invoke(app, ["serve", "--port", "8123"])

    assert result.exit_code == 0, result.output
    assert captured["port"] == 8123
    assert captured["factory"] is True
    assert str(captured["target"]).endswith(".api:create_app")

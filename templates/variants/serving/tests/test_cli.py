import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from typer.testing import CliRunner

from {{ cookiecutter.package_name }} import registry
from {{ cookiecutter.package_name }} import train as train_module
from {{ cookiecutter.package_name }}.api import create_app
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.dataset import generate, write_csv
from {{ cookiecutter.package_name }}.schema import FEATURES
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

from variant_fixtures import BUNDLED_DATA, Trained, fake_model

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


@pytest.fixture
def served_model(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    monkeypatch.setenv("MODEL_URI", str(trained.settings.export_dir))
    monkeypatch.setenv("DATA_PATH", str(trained.settings.data_path))
    monkeypatch.setenv("RESULTS_DIR", "results")
    return trained


def test_data_command_writes_the_requested_rows(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "--rows", "150", "--output", str(tmp_path / "d.csv")])

    assert result.exit_code == 0, result.output
    assert len((tmp_path / "d.csv").read_text().splitlines()) == 151


@pytest.mark.slow
@pytest.mark.parametrize("promoted", [True, False])
def test_train_reports_metrics_and_the_promotion_decision(
    trained: Trained, monkeypatch: pytest.MonkeyPatch, promoted: bool
) -> None:
    failures = [] if promoted else ["roc_auc=0.6000 is below the minimum 0.7000"]
    outcome = replace(trained.result, promoted=promoted, failures=failures)
    monkeypatch.setattr(train_module, "train", lambda _settings: outcome)

    result = runner.invoke(app, ["train"])

    assert result.exit_code == 0, result.output
    assert f"model version {outcome.model_version}" in result.output
    assert str(outcome.metrics["roc_auc"]) in result.output
    expected = "promoted to champion" if promoted else "not promoted: roc_auc=0.6000"
    assert expected in result.output


def test_train_with_a_bad_data_file_exits_1_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    monkeypatch.setenv("DATA_PATH", str(bad))

    result = runner.invoke(app, ["train"])

    assert result.exit_code == 1
    assert str(bad) in result.output


@pytest.mark.slow
def test_evaluate_writes_results_for_the_served_model(served_model: Trained) -> None:
    result = runner.invoke(app, ["evaluate"])

    assert result.exit_code == 0, result.output
    written = json.loads(Path("results/evaluation.json").read_text())
    assert written["model_version"] == served_model.result.model_version
    # The held-out split, as in training: the same rows give the same ROC AUC.
    assert written["rows"] == 1000
    assert written["roc_auc"]["value"] == served_model.result.metrics["roc_auc"].value


@pytest.mark.slow
def test_evaluate_scores_a_given_file_whole(served_model: Trained, tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.csv"
    write_csv(generate(300, seed=21), labelled)

    result = runner.invoke(app, ["evaluate", "--data", str(labelled)])

    assert result.exit_code == 0, result.output
    written = json.loads(Path("results/evaluation.json").read_text())
    assert written["rows"] == 300
    assert written["roc_auc"]["low"] <= written["roc_auc"]["value"] <= written["roc_auc"]["high"]


def test_evaluate_without_a_model_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_URI", "/no/such/model")
    monkeypatch.setenv("DATA_PATH", str(BUNDLED_DATA))

    result = runner.invoke(app, ["evaluate"])

    assert result.exit_code == 1
    assert "make train" in result.output


@pytest.mark.slow
def test_drift_exits_2_only_when_inputs_drift(served_model: Trained, tmp_path: Path) -> None:
    same = generate(500, seed=8)[list(FEATURES)]
    shifted = same.assign(monthly_charges=same["monthly_charges"] * 2)
    write_csv(same, tmp_path / "same.csv")
    write_csv(shifted, tmp_path / "shifted.csv")

    calm = runner.invoke(app, ["drift", str(tmp_path / "same.csv")])
    alarm = runner.invoke(app, ["drift", str(tmp_path / "shifted.csv")])

    assert calm.exit_code == 0, calm.output
    assert alarm.exit_code == 2
    flagged = [r["feature"] for r in json.loads(alarm.stdout) if r["drifted"]]
    assert flagged == ["monthly_charges"]


def test_serve_passes_settings_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(
        "uvicorn.run", lambda target, **kwargs: calls.append(kwargs | {"t": target})
    )
    monkeypatch.setenv("API_WORKERS", "3")

    result = runner.invoke(app, ["serve", "--port", "9001"])

    assert result.exit_code == 0, result.output
    assert calls[0]["port"] == 9001
    assert calls[0]["workers"] == 3
    assert calls[0]["host"] == "127.0.0.1"
    assert calls[0]["factory"] is True
    assert calls[0]["t"] == "{{ cookiecutter.package_name }}.api:create_app"


@pytest.mark.slow
def test_load_test_against_a_live_server_records_percentiles(
    accounts: pd.DataFrame, tmp_path: Path
) -> None:
    api = create_app(Settings(), loader=lambda _uri: fake_model(accounts))
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=0, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not (server.started and api.state.host.model):
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        output = tmp_path / "load.json"
        url = f"http://127.0.0.1:{port}"
        args = ["load-test", "--url", url, "--requests", "60", "--output", str(output)]
        result = runner.invoke(app, args)
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    assert result.exit_code == 0, result.output
    recorded = json.loads(output.read_text())
    assert recorded["requests"] == 60
    assert recorded["errors"] == 0
    assert 0 < recorded["p50_ms"] <= recorded["p95_ms"] <= recorded["p99_ms"]


def test_load_test_refuses_an_api_that_is_not_ready(tmp_path: Path) -> None:
    def never_loads(uri: str) -> registry.LoadedModel:
        raise registry.ModelLoadError(f"no model at {uri}")

    api = create_app(Settings(), loader=never_loads)
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=0, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        result = runner.invoke(app, ["load-test", "--url", f"http://127.0.0.1:{port}"])
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    assert result.exit_code == 1
    assert "answered 503" in result.output
    assert not (tmp_path / "results").exists()


def test_load_test_without_a_server_exits_1_saying_so() -> None:
    result = runner.invoke(app, ["load-test", "--url", "http://127.0.0.1:9", "--requests", "1"])

    assert result.exit_code == 1
    assert "make serve" in result.output


@pytest.fixture
def store_named_only_in_env_file(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    """The user's path: MLFLOW_TRACKING_URI in `.env` only, and a fresh process whose
    MLflow would otherwise use its own default store (here an empty one)."""
    import mlflow

    Path(".env").write_text(
        f"MLFLOW_TRACKING_URI={trained.settings.mlflow_tracking_uri}\n"
        f"DATA_PATH={trained.settings.data_path}\n",
        encoding="utf-8",
    )
    mlflow.set_tracking_uri("sqlite:///default-store.db")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # set_tracking_uri exports it as well
    return trained


@pytest.mark.slow
def test_evaluate_reads_the_registry_the_env_file_names(
    store_named_only_in_env_file: Trained,
) -> None:
    result = runner.invoke(app, ["evaluate"])

    assert result.exit_code == 0, result.output
    evaluation = json.loads(Path("results/evaluation.json").read_text())
    assert evaluation["model_version"] == store_named_only_in_env_file.result.model_version


@pytest.mark.slow
def test_the_api_serves_the_champion_of_the_registry_the_env_file_names(
    store_named_only_in_env_file: Trained,
) -> None:
    import asyncio

    import httpx
    from asgi_lifespan import LifespanManager

    async def ready() -> httpx.Response:
        api = create_app()
        async with LifespanManager(api):
            await api.state.host.loading
            transport = httpx.ASGITransport(app=api)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get("/ready")

    response = asyncio.run(ready())

    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == store_named_only_in_env_file.result.model_version

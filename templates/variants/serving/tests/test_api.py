import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }} import registry
from {{ cookiecutter.package_name }}.api import DriftWindow, create_app
from {{ cookiecutter.package_name }}.dataset import generate
from {{ cookiecutter.package_name }}.platform.host import ModelHost
from {{ cookiecutter.package_name }}.registry import LoadedModel
from {{ cookiecutter.package_name }}.schema import FEATURES, MAX_BATCH_SIZE
from {{ cookiecutter.package_name }}.settings import Settings

from variant_fixtures import ACCOUNT, fake_model

# Well over INLINE_BODY_BYTES once encoded: handled off the event loop.
LARGE_BATCH = 100

pytestmark = pytest.mark.anyio


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app):
        host: ModelHost[LoadedModel] = app.state.host
        assert host.loading is not None
        await host.loading
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def client(accounts: pd.DataFrame) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(decision_threshold=0.3), loader=lambda _uri: fake_model(accounts))
    async for c in _client(app):
        yield c


async def test_single_account_gets_one_prediction(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", json=ACCOUNT)

    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "7"
    assert body["predictions"] == [{"churn_probability": 0.25, "churn": False}]


async def test_batch_gets_one_prediction_per_account_in_order(client: httpx.AsyncClient) -> None:
    batch = [ACCOUNT | {"tenure_months": months} for months in (0, 1, 9)]

    response = await client.post("/predict", json={"instances": batch})

    assert [p["churn_probability"] for p in response.json()["predictions"]] == [1.0, 0.5, 0.1]
    assert [p["churn"] for p in response.json()["predictions"]] == [True, True, False]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (ACCOUNT | {"tenure_months": -1}, "tenure_months"),
        (ACCOUNT | {"contract": "weekly"}, "contract"),
        (ACCOUNT | {"monthly_charges": "lots"}, "monthly_charges"),
        ({k: v for k, v in ACCOUNT.items() if k != "support_calls"}, "support_calls"),
        (ACCOUNT | {"surprise": 1}, "surprise"),
        ({"instances": [ACCOUNT, ACCOUNT | {"has_internet": "perhaps"}]}, "has_internet"),
        ({"instances": []}, "instances"),
    ],
)
async def test_invalid_payload_is_422_naming_the_field(
    client: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    response = await client.post("/predict", json=payload)

    assert response.status_code == 422
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"null", b'{"instances": 5}'])
async def test_malformed_body_is_422_not_500(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        "/predict", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_oversized_batch_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", json={"instances": [ACCOUNT] * (MAX_BATCH_SIZE + 1)})

    assert response.status_code == 422
    assert "instances" in response.json()["detail"][0]["loc"]


async def test_metrics_expose_predictions_and_input_drift(client: httpx.AsyncClient) -> None:
    shifted = [ACCOUNT | {"monthly_charges": 500.0} for _ in range(5)]
    for _ in range(12):  # five rows a request enter the drift window
        await client.post("/predict", json={"instances": shifted})

    body = (await client.get("/metrics")).text

    assert 'predictions_total{churn="false"} 60.0' in body
    assert "prediction_churn_probability_bucket" in body
    psi = next(
        float(line.split()[-1])
        for line in body.splitlines()
        if line.startswith('input_drift_psi{feature="monthly_charges"}')
    )
    assert psi > 1.0


async def test_ready_is_503_until_the_model_has_loaded(accounts: pd.DataFrame) -> None:
    release = threading.Event()

    def slow_loader(_uri: str) -> registry.LoadedModel:
        release.wait(timeout=10)
        return fake_model(accounts)

    app = create_app(Settings(), loader=slow_loader)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            before = await client.get("/ready")
            predict_before = await client.post("/predict", json=ACCOUNT)
            release.set()
            await app.state.host.loading
            after = await client.get("/ready")

    assert before.status_code == 503
    assert predict_before.status_code == 503
    assert after.status_code == 200


async def test_model_that_fails_to_load_keeps_ready_503_with_the_reason() -> None:
    def failing_loader(uri: str) -> registry.LoadedModel:
        raise registry.ModelLoadError(f"cannot load model {uri!r}: run `make train`")

    app = create_app(Settings(model_uri="/nowhere"), loader=failing_loader)
    async for client in _client(app):
        ready = await client.get("/ready")
        health = await client.get("/health")
        predict = await client.post("/predict", json=ACCOUNT)

    assert ready.status_code == 503
    assert "/nowhere" in ready.json()["reason"]
    assert health.status_code == 200
    assert predict.status_code == 503


@pytest.mark.slow
async def test_trained_champion_serves_its_own_probabilities(
    trained: Any, accounts: pd.DataFrame
) -> None:
    settings: Settings = trained.settings
    app = create_app(settings.model_copy(update={"model_uri": str(settings.export_dir)}))
    expected: Callable[[pd.DataFrame], np.ndarray] = registry.load(
        str(settings.export_dir)
    ).classifier.predict_proba
    rows = accounts[list(FEATURES)].head(20)

    async for client in _client(app):
        response = await client.post("/predict", json={"instances": rows.to_dict("records")})

    served = [p["churn_probability"] for p in response.json()["predictions"]]
    assert served == pytest.approx(expected(rows)[:, 1].tolist())
    assert response.json()["model_version"] == trained.result.model_version


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
# Bodies with the right keys but any values reach deeper into validation;
# valid accounts at the edges of their ranges reach the model.
ACCOUNT_SHAPED = st.fixed_dictionaries(dict.fromkeys(ACCOUNT, JSON_VALUES))
VALID_ACCOUNT = st.fixed_dictionaries(
    {
        "tenure_months": st.integers(0, 600),
        "monthly_charges": st.floats(0, 10_000),
        "support_calls": st.integers(0, 1_000),
        "contract": st.sampled_from(["month-to-month", "one-year", "two-year"]),
        "payment_method": st.sampled_from(["card", "bank-transfer", "electronic-check"]),
        "has_internet": st.booleans(),
    }
)
ACCOUNTS = VALID_ACCOUNT | ACCOUNT_SHAPED | JSON_VALUES
BATCHES = st.lists(VALID_ACCOUNT, max_size=4) | st.lists(ACCOUNTS, max_size=4)
BODIES = ACCOUNTS | st.fixed_dictionaries({"instances": BATCHES})


@functools.cache
def app_with_model() -> FastAPI:
    """One app for all examples: the model is placed directly, lifespan is not needed."""
    app = create_app(Settings())
    app.state.host.model = fake_model(generate(100, seed=1))
    return app


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_no_request_body_makes_predict_answer_500(body: object) -> None:
    app = app_with_model()

    async def post() -> tuple[int, Any]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/predict", json=body)
            return response.status_code, response.json()

    status, answer = asyncio.run(post())

    assert status in {200, 422}
    if status == 200:
        sent = body["instances"] if isinstance(body, dict) and "instances" in body else [body]
        assert len(answer["predictions"]) == len(sent)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"tenure_months": "\\ud800"}',
        b'{"tenure_months": Infinity, "monthly_charges": NaN}',
        b'{"instances": [{"\\udfff": 1}]}',
    ],
    ids=["lone-surrogate", "non-finite", "surrogate-key"],
)
async def test_bodies_json_cannot_echo_back_still_get_422(raw: bytes) -> None:
    # json.loads accepts these, and a 422 echoes its input: the answer must
    # still encode, or the client gets a 500 for a bad request.
    transport = httpx.ASGITransport(app=app_with_model(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/predict", content=raw, headers={"content-type": "application/json"}
        )

    assert response.status_code == 422
    assert response.json()["detail"]


async def test_one_large_batch_enters_the_drift_window_as_a_sample(
    accounts: pd.DataFrame,
) -> None:
    app = create_app(Settings(), loader=lambda _uri: fake_model(accounts))
    shifted = [ACCOUNT | {"monthly_charges": 500.0}] * MAX_BATCH_SIZE
    async for client in _client(app):
        response = await client.post("/predict", json={"instances": shifted})

    window: DriftWindow = app.state.drift_window
    assert response.status_code == 200
    assert len(window.rows) == Settings().drift_rows_per_request


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (ACCOUNT | {"tenure_months": "12"}, "tenure_months"),
        (ACCOUNT | {"has_internet": 0}, "has_internet"),
        (ACCOUNT | {"support_calls": 2.5}, "support_calls"),
    ],
)
async def test_only_what_the_schema_publishes_is_accepted(
    client: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    response = await client.post("/predict", json=payload)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field


async def test_a_batch_of_a_thousand_empty_accounts_gets_a_small_422(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/predict", json={"instances": [{}] * MAX_BATCH_SIZE})

    assert response.status_code == 422
    assert len(response.content) < 2_000
    assert {tuple(e["loc"][:4]) for e in response.json()["detail"]} == {
        ("body", "batch", "instances", 0)
    }


async def test_a_body_of_many_unknown_fields_gets_one_short_error(
    client: httpx.AsyncClient,
) -> None:
    body = {f"field_{i}": i for i in range(20_000)}

    response = await client.post("/predict", json=body)

    assert response.status_code == 422
    assert len(response.json()["detail"]) == 1
    assert "20,000 fields" in response.json()["detail"][0]["msg"]
    assert len(response.content) < 1_000


async def test_a_large_batch_is_scored_off_the_event_loop(accounts: pd.DataFrame) -> None:
    release, scoring = threading.Event(), threading.Event()
    model = fake_model(accounts)

    class SlowClassifier:
        def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
            scoring.set()
            release.wait(timeout=10)  # held until /health has answered
            return model.classifier.predict_proba(features)

    slow = registry.LoadedModel(SlowClassifier(), model.version, model.reference_stats)
    app = create_app(Settings(), loader=lambda _uri: slow)
    async for client in _client(app):
        batch = asyncio.create_task(
            client.post("/predict", json={"instances": [ACCOUNT] * LARGE_BATCH})
        )
        while not scoring.is_set():
            await asyncio.sleep(0.01)
        health = await client.get("/health")
        answered_while_scoring = not batch.done()
        release.set()
        scored = await batch

    assert health.status_code == 200
    assert answered_while_scoring
    assert len(scored.json()["predictions"]) == LARGE_BATCH

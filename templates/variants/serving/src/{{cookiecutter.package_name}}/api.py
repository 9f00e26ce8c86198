"""The prediction API: `POST /predict` on the champion model, plus the shared probes.

Served by `uvicorn <package>.api:create_app --factory` (see `cli.serve`). The model
loads in the background after start-up, so `/health` answers at once and `/ready`
turns 200 only when predictions can be served.
"""

import functools
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from . import __version__, drift, registry
from .platform.config import PROJECT
from .platform.host import ModelHost
from .platform.service import OffLoopRoute, api_app, instrument
from .schema import FEATURES, Batch, Customer, Prediction, PredictRequest, PredictResponse
from .settings import Settings, get_settings

logger = logging.getLogger(__name__)

ModelLoader = Callable[[str], registry.LoadedModel]


@dataclass
class DriftWindow:
    """A window of recent inputs, compared with the training data on each scrape."""

    rows: deque[dict[str, object]]


class ModelMetrics:
    """What the model answers and how its inputs drift, beside the request metrics."""

    def __init__(self, registry_: CollectorRegistry) -> None:
        self.probability = Histogram(
            "prediction_churn_probability",
            "Distribution of predicted churn probabilities.",
            buckets=tuple(i / 10 for i in range(1, 11)),
            registry=registry_,
        )
        self.outcomes = Counter(
            "predictions_total", "Predictions by outcome.", ["churn"], registry=registry_
        )
        self.drift_psi = Gauge(
            "input_drift_psi",
            "PSI of recent inputs against training.",
            ["feature"],
            registry=registry_,
        )


def create_app(settings: Settings | None = None, loader: ModelLoader | None = None) -> FastAPI:
    """Build the app; `loader` is injectable so tests need no trained model.

    By default the model URI resolves in the settings' tracking store, the same
    store `make train` registered it in.
    """
    settings = settings or get_settings()
    if loader is None:
        loader = functools.partial(registry.load, tracking_uri=settings.mlflow_tracking_uri)
    host = ModelHost(
        functools.partial(loader, settings.resolved_model_uri()),
        lambda model: model.version,
        unavailable=(registry.ModelLoadError,),
    )
    window = DriftWindow(deque(maxlen=settings.drift_window))
    sampler = random.Random(settings.seed)  # noqa: S311 - monitoring, not security
    gauges = ModelMetrics(host.state.metrics.registry)

    def refresh_drift() -> None:
        if host.model is None or len(window.rows) < min(50, settings.drift_window):
            return
        live = pd.DataFrame(list(window.rows), columns=list(FEATURES))
        for result in drift.compare(host.model.reference_stats, live, settings.drift_psi_alert):
            gauges.drift_psi.labels(result.feature).set(result.psi)

    host.state.before_scrape.append(refresh_drift)
    app = api_app(PROJECT, __version__, host.lifespan(settings.log_level))
    app.state.host = host
    app.state.drift_window = window
    instrument(app, host.state, settings)

    def score(model: registry.LoadedModel, customers: list[Customer]) -> PredictResponse:
        rows = [customer.model_dump() for customer in customers]
        scores = model.classifier.predict_proba(pd.DataFrame(rows, columns=list(FEATURES)))[:, 1]
        # A sample per request, so one large batch cannot fill the window on its own.
        per_request = settings.drift_rows_per_request
        window.rows.extend(rows if len(rows) <= per_request else sampler.sample(rows, per_request))
        predictions = []
        for value in scores.tolist():
            churn = value >= settings.decision_threshold
            gauges.probability.observe(value)
            gauges.outcomes.labels(str(churn).lower()).inc()
            predictions.append(Prediction(churn_probability=value, churn=churn))
        return PredictResponse(predictions=predictions, model_version=model.version)

    # A large batch is decoded, scored and encoded in a worker thread (OffLoopRoute),
    # so the event loop keeps answering probes and refusing what would only queue.
    model_routes = APIRouter(route_class=OffLoopRoute, tags=["model"])

    @model_routes.post(
        "/predict",
        response_model=PredictResponse,
        responses={503: {"description": "Model not loaded"}},
    )
    async def predict(
        body: PredictRequest, model: Annotated[registry.LoadedModel, Depends(host.require)]
    ) -> PredictResponse:
        """Churn probability for one account, or for `{"instances": [...]}`."""
        customers: list[Customer] = body.instances if isinstance(body, Batch) else [body]
        return score(model, customers)

    app.include_router(model_routes)
    return app

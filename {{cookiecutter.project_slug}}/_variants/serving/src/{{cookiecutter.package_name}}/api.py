"""The prediction API: `POST /predict` on the champion model, plus the shared probes.

Served by `uvicorn <package>.api:create_app --factory` (see `cli.serve`). The model
loads in the background after start-up, so `/health` answers at once and `/ready`
turns 200 only when predictions can be served.
"""

import asyncio
import functools
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pandas as pd
from fastapi import APIRouter, FastAPI, HTTPException, status
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from . import __version__, drift, registry
from .config import PROJECT
from .logs import configure_logging
from .schema import FEATURES, Batch, Customer, Prediction, PredictRequest, PredictResponse
from .service import OffLoopRoute, ServiceState, api_app, instrument
from .settings import Settings, get_settings

logger = logging.getLogger(__name__)

ModelLoader = Callable[[str], registry.LoadedModel]


@dataclass
class ModelSlot:
    """The served model and a window of recent inputs for drift, owned by one app."""

    window: deque[dict[str, object]]
    model: registry.LoadedModel | None = None
    loading: asyncio.Task[None] | None = field(default=None, repr=False)


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
    state = ServiceState(not_ready_reason="model is loading")
    slot = ModelSlot(window=deque(maxlen=settings.drift_window))
    sampler = random.Random(settings.seed)  # noqa: S311 - monitoring, not security
    gauges = ModelMetrics(state.metrics.registry)

    def refresh_drift() -> None:
        if slot.model is None or len(slot.window) < min(50, settings.drift_window):
            return
        live = pd.DataFrame(list(slot.window), columns=list(FEATURES))
        for result in drift.compare(slot.model.reference_stats, live, settings.drift_psi_alert):
            gauges.drift_psi.labels(result.feature).set(result.psi)

    state.before_scrape.append(refresh_drift)

    async def load_model() -> None:
        uri = settings.resolved_model_uri()
        try:
            slot.model = await asyncio.to_thread(loader, uri)
        except registry.ModelLoadError as exc:
            state.mark_failed(str(exc))
            logger.error("model not loaded", extra={"model_uri": uri, "error": str(exc)})
            return
        state.mark_ready(slot.model.version)
        logger.info("model loaded", extra={"model_uri": uri, "version": slot.model.version})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        slot.loading = asyncio.create_task(load_model())
        yield
        slot.loading.cancel()

    app = api_app(PROJECT, __version__, lifespan)
    app.state.model_slot = slot
    instrument(app, state, settings)

    def score(model: registry.LoadedModel, customers: list[Customer]) -> PredictResponse:
        rows = [customer.model_dump() for customer in customers]
        scores = model.classifier.predict_proba(pd.DataFrame(rows, columns=list(FEATURES)))[:, 1]
        # A sample per request, so one large batch cannot fill the window on its own.
        per_request = settings.drift_rows_per_request
        slot.window.extend(rows if len(rows) <= per_request else sampler.sample(rows, per_request))
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
    async def predict(body: PredictRequest) -> PredictResponse:
        """Churn probability for one account, or for `{"instances": [...]}`."""
        model = slot.model
        if model is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, state.not_ready_reason)
        customers: list[Customer] = body.instances if isinstance(body, Batch) else [body]
        return score(model, customers)

    app.include_router(model_routes)
    return app

"""One lifecycle for every served model: load in the background, 503 until ready.

A variant's `api.py` makes a `ModelHost` with its loader, passes `host.lifespan(...)`
to `api_app`, and declares `model: Annotated[Model, Depends(host.require)]` on each
endpoint that needs the model. FastAPI resolves dependencies before it validates a
body, so such an endpoint answers 503 to every request while loading; one that must
answer 422 to a bad body first calls `host.require()` in the handler instead.
Request limits that come from settings are set with `with_limits`, so the published
schema states them and validation enforces them.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

from fastapi import FastAPI, HTTPException, status
from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo

from .logs import configure_logging
from .service import ServiceState

logger = logging.getLogger(__name__)

M = TypeVar("M")
Schema = TypeVar("Schema", bound=BaseModel)


class ModelHost(Generic[M]):
    """Holds what an app serves, loads it off the event loop, and guards endpoints.

    `/health` answers at once; `/ready` and every endpoint that depends on `require`
    answer 503 with the reason until `load` returns. A load that raises one of
    `unavailable` leaves `/ready` at 503 with `reason(error)`, which keeps paths and
    internals out of what clients see; anything else is a bug and is raised.
    """

    def __init__(
        self,
        load: Callable[[], M],
        version: Callable[[M], str],
        *,
        unavailable: tuple[type[Exception], ...],
        reason: Callable[[Exception], str] = str,
        loading: str = "model is loading",
    ) -> None:
        self.state = ServiceState(not_ready_reason=loading)
        self.model: M | None = None
        # The running load, for whoever must wait for it (tests, a warm-up).
        self.loading: asyncio.Task[None] | None = None
        self._load = load
        self._version = version
        self._unavailable = unavailable
        self._reason = reason

    async def load(self) -> None:
        """Load the model in a worker thread and mark the app ready, or say why not."""
        try:
            model = await asyncio.to_thread(self._load)
        except self._unavailable as exc:
            self.state.mark_failed(self._reason(exc))
            logger.error("model not loaded", extra={"error": str(exc)})
            return
        self.model = model
        version = self._version(model)
        self.state.mark_ready(version)
        logger.info("model loaded", extra={"version": version})

    def require(self) -> M:
        """The loaded model, for `Depends`: 503 with the reason while there is none."""
        if self.model is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, self.state.not_ready_reason)
        return self.model

    def lifespan(
        self,
        log_level: str,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
        """The app's lifespan: logging set up, the load started, both undone at exit."""

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            configure_logging(log_level)
            self.loading = asyncio.create_task(self.load())
            try:
                yield
            finally:
                self.loading.cancel()
                if on_shutdown is not None:
                    await on_shutdown()

        return lifespan


def with_limits(schema: type[Schema], **limits: dict[str, Any]) -> type[Schema]:
    """`schema` with bounds from settings on its fields, e.g.
    `with_limits(Query, question={"max_length": settings.max_question_chars})`.

    The subclass validates the bounds and publishes them in the OpenAPI schema, under
    the same name, so every variant states its settings-driven limits one way.
    """
    unknown = sorted(set(limits) - set(schema.model_fields))
    if unknown:
        raise ValueError(f"{schema.__name__} has no field {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    for name, bounds in limits.items():
        current = schema.model_fields[name]
        extra = Field(**bounds)
        merged = FieldInfo.merge_field_infos(current, extra)
        # New bounds go first, replacing any of their kind: after a field's own
        # validators (a BeforeValidator) pydantic could not publish them in the schema.
        kinds = {type(item) for item in extra.metadata}
        kept = [item for item in current.metadata if type(item) not in kinds]
        merged.metadata = [*extra.metadata, *kept]
        fields[name] = (current.annotation, merged)
    limited: type[Schema] = create_model(schema.__name__, __base__=schema, **fields)
    return limited

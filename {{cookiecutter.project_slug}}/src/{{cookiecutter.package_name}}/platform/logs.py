"""Structured JSON logs, one object per line, carrying the current request id."""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed through `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """Render a record as a JSON object that log pipelines can index without parsing."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            payload["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


# Library records that tell a user nothing they can act on, raised to the level where
# they stop being noise (LOG_LEVEL=DEBUG shows them all): MLflow announcing a new
# SQLite store, a new experiment and a uv project, and that a uv environment has no
# pip (it then writes pip unpinned into the model's conda.yaml, which is harmless).
QUIET_LOGGERS = {
    "mlflow.store.db.utils": logging.WARNING,
    "mlflow.tracking.fluent": logging.WARNING,
    "mlflow.utils.uv_utils": logging.WARNING,
    "mlflow.utils.environment": logging.ERROR,
}


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else floor)

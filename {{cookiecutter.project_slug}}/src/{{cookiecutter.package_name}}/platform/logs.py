"""Structured JSON logs, one object per line, carrying the current request id.

A batch command (train, ingest, evaluate…) also writes its whole log, at INFO or
below, to `logs/<command>.log`, which its MLflow run keeps; the terminal shows the
command's progress and summary, and the log lines at LOG_LEVEL.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
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
# pip (it then writes pip unpinned into the model's conda.yaml, which is harmless);
# sentence-transformers naming the device and the weights' path at each model load.
QUIET_LOGGERS = {
    "mlflow.store.db.utils": logging.WARNING,
    "mlflow.tracking.fluent": logging.WARNING,
    "mlflow.utils.uv_utils": logging.WARNING,
    "mlflow.utils.environment": logging.ERROR,
    "sentence_transformers": logging.WARNING,
}


LOG_DIR = Path("logs")
# Libraries whose loggers keep their own handlers and do not reach the root logger.
OWN_HANDLER_LOGGERS = ("mlflow",)


def configure_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    """Send every logger's records to stderr as JSON lines, and to `log_file` too when
    given (INFO and above whatever LOG_LEVEL says; idempotent). A file that cannot be
    written (a read-only image, a full disk) leaves logging on the terminal alone."""
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(JsonFormatter())
    console.setLevel(level)
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            kept = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        except OSError:
            pass
        else:
            kept.setFormatter(JsonFormatter())
            kept.setLevel(min(logging.INFO, console.level))
            handlers.append(kept)
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(min(handler.level for handler in handlers))
    for name in OWN_HANDLER_LOGGERS:
        library = logging.getLogger(name)
        library.handlers[:] = [h for h in library.handlers if not _is_log_file(h)]
        if not library.propagate:
            library.handlers += handlers[1:]
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else floor)


def _is_log_file(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.FileHandler)


def current_log_file() -> Path | None:
    """The file this process logs to, flushed, if it logs to one."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.flush()
            return Path(handler.baseFilename)
    return None

"""Structured logs: one JSON object per line and per event, on stderr.

Every line has ``time``, ``level`` and ``event``; lines about a request carry its ``id``.
stdout is left to metrics when EMF goes to stdout (EKS), so the two never interleave.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_LOGGER = logging.getLogger("model_server.worker")


class _JsonFormatter(logging.Formatter):
    def __init__(self, static: dict[str, str]) -> None:
        super().__init__()
        self._static = static

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **self._static,
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str, **static: str) -> None:
    """Send the worker's events to stderr as JSON lines; ``static`` goes on every line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(static))
    _LOGGER.handlers[:] = [handler]
    _LOGGER.setLevel(level.upper())
    _LOGGER.propagate = False
    # botocore's own retry warnings still matter; its debug chatter does not.
    logging.getLogger("botocore").setLevel(logging.WARNING)


def event(name: str, level: int = logging.INFO, /, exc_info: bool = False, **fields: Any) -> None:
    """Log one event. Pass ``id=`` for anything about a request."""
    _LOGGER.log(level, name, extra={"fields": fields}, exc_info=exc_info)


def debug(name: str, /, **fields: Any) -> None:
    event(name, logging.DEBUG, **fields)


def warning(name: str, /, **fields: Any) -> None:
    event(name, logging.WARNING, **fields)


def error(name: str, /, exc_info: bool = False, **fields: Any) -> None:
    event(name, logging.ERROR, exc_info=exc_info, **fields)


def flush() -> None:
    for handler in _LOGGER.handlers:
        handler.flush()

"""Logging set-up: readable lines in development, one JSON object per line in production."""

from __future__ import annotations

import json
import logging
import sys
import time

from drop import tracing


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("dropId", "userId", "invocationId"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        ids = tracing.log_ids()
        if ids is not None:
            entry["traceId"], entry["spanId"] = ids
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class ReadableFormatter(logging.Formatter):
    """One readable line; with tracing on, the trace id it belongs to at the end."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = tracing.log_ids()
        return line if ids is None else f"{line} trace_id={ids[0]}"


def setup_logging(service: str, level: str, *, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(ReadableFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # One line per outgoing request drowns the useful lines (and costs time under load).
    logging.getLogger("httpx").setLevel(logging.WARNING)

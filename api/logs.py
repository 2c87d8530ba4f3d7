"""JSON log lines: ``time``, ``level``, ``logger``, ``message``, the record's structured ``fields``, and
``trace_id``/``span_id`` of the current span when tracing is on (docs/operations.md lists the fields)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import msgspec
from opentelemetry import trace

__all__ = ["configure_logging"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update((k, v) for k, v in fields.items() if v is not None and k not in entry)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry, enc_hook=str).decode()


#: Libraries that log every HTTP request or MCP session at INFO: per-call lines cost time on the hot path
#: and put session ids in the logs.
QUIET = ("httpx", "httpx2", "httpcore", "httpcore2", "mcp", "uvicorn.access")


#: Libraries that log every failed reconnection during an outage, which the store's health logs once.
QUIET_IN_OUTAGES = ("psycopg.pool",)


def configure_logging(level: str, stream: str = "stderr") -> None:
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in QUIET_IN_OUTAGES:
        logging.getLogger(name).setLevel(max(logging.ERROR, logging.getLevelName(level)))
    root = logging.getLogger("ledgergate")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout if stream == "stdout" else sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)

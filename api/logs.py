"""JSON log lines: ``time``, ``level``, ``logger``, ``message``, the record's structured ``fields``, and
``trace_id``/``span_id`` of the current span when tracing is on (docs/operations.md lists the fields).

A line is formatted where it is logged (so it carries that task's trace ids) and written by a thread of
its own: the event loop never waits on the log's output, however slowly whoever reads it reads (a pipe
to a container runtime, a terminal). The writer wakes for a line, lets others gather for ``WRITE_PAUSE_S`` and writes
them all at once. At most ``MAX_QUEUED_LINES`` wait; while the output is that far behind, further lines are
dropped and counted, and the writer says how many once it has caught up. The lifespan of each worker
flushes the queue when it ends; a process killed outright loses the few lines not yet written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

import msgspec
from opentelemetry import trace

__all__ = ["LineWriter", "Lines", "configure_logging", "flush_logs"]

#: Lines waiting for the writer at most; beyond it they are dropped (and counted) rather than held.
MAX_QUEUED_LINES = 10_000
FLUSH_TIMEOUT_S = 5.0
#: how long the writer lets lines gather after the first one of a batch (the latest a line is written)
WRITE_PAUSE_S = 0.02
_encode = msgspec.json.Encoder(enc_hook=str).encode


class _Clock:
    """``2026-12-02T05:54:54.341175+00:00`` for a record's ``created``; the date and time up to the second
    are formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{int((created - second) * 1_000_000):06d}+00:00"


class JsonFormatter(logging.Formatter):
    def __init__(self, tracing: Callable[[], bool] = lambda: True) -> None:
        """``tracing``: whether spans may be current (the composition root hands the telemetry's check), so
        that a line looks for trace ids only then."""
        super().__init__()
        self._clock = _Clock()
        self.tracing = tracing

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            record.process,
            fields if isinstance(fields, dict) else None,
            exception,
        )

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        pid: int | None,
        fields: dict[str, Any] | None,
        exception: str | None = None,
    ) -> str:
        entry: dict[str, Any] = {
            "time": self._clock(created),
            "level": level,
            "logger": logger,
            "message": message,
            "pid": pid,
        }
        if fields:
            for key, value in fields.items():
                if value is not None and key not in entry:
                    entry[key] = value
        if self.tracing():
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                entry["trace_id"] = format(context.trace_id, "032x")
                entry["span_id"] = format(context.span_id, "016x")
        if exception:
            entry["exception"] = exception
        return _encode(entry).decode()


class Lines:
    """The logger of a line logged per request (access, calls). When the JSON writer is the only handler
    that would see it, the line is encoded and queued as it is, without a ``logging.LogRecord`` (a third of
    the cost); with any other handler in the way (a test's capture, an operator's configuration) it goes
    through ``logging`` as any other record."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.logger = logging.getLogger(name)

    def isEnabledFor(self, level: int) -> bool:
        return self.logger.isEnabledFor(level)

    def log(self, level: int, message: str, fields: dict[str, Any]) -> None:
        writer = self._only_writer(level)
        if writer is None:
            self.logger.log(level, "%s", message, extra={"fields": fields})
            return
        formatter = writer.formatter
        assert isinstance(formatter, JsonFormatter)  # _only_writer checked it
        try:
            line = formatter.line(time.time(), logging.getLevelName(level), self.name, message, os.getpid(), fields)
        except Exception:  # as logging does with a record it cannot format
            self.logger.exception("a log line could not be encoded")
            return
        writer.put(line)

    def _only_writer(self, level: int) -> LineWriter | None:
        """The JSON writer, if it is the one handler (without filters) that would see a line at ``level``."""
        only: logging.Handler | None = None
        logger: logging.Logger | None = self.logger
        while logger is not None:
            for handler in logger.handlers:
                if level >= handler.level:
                    if only is not None:
                        return None
                    only = handler
            if not logger.propagate:
                break
            logger = logger.parent
        if isinstance(only, LineWriter) and isinstance(only.formatter, JsonFormatter) and not only.filters:
            return only
        return None


class LineWriter(logging.Handler):
    """Formats in the caller, writes from a daemon thread (started again in a forked child, whose parent's
    thread did not come along)."""

    def __init__(self, stream: IO[str], max_queued: int = MAX_QUEUED_LINES) -> None:
        super().__init__()
        self.stream = stream
        self.max_queued = max_queued
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._queued = 0  # lines accepted, and lines written (or lost to a closed output), by this process
        self._written = 0
        self._dropped = 0
        self._pid = -1

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # logging's own rule: a bad record is reported, never raised
            self.handleError(record)
            return
        self.put(line)

    def put(self, line: str) -> None:
        """Queue one formatted line (or count it as dropped when the output is ``max_queued`` lines behind)."""
        if self._pid != os.getpid():
            self._start()
        if self._queued - self._written >= self.max_queued:
            self._dropped += 1
            return
        self._queued += 1
        self._lines.put(line)

    def _start(self) -> None:
        with self.lock or threading.Lock():
            if self._pid == os.getpid():
                return
            self._lines = queue.SimpleQueue()  # a forked child's copy of its parent's queue is the parent's
            self._queued = self._written = self._dropped = 0
            self._pid = os.getpid()
            threading.Thread(target=self._write, name="ledgergate-log-writer", daemon=True).start()

    def _write(self) -> None:
        lines = self._lines
        while True:
            batch = [lines.get()]
            time.sleep(WRITE_PAUSE_S)  # lines gather meanwhile: one wake-up and one write for them all
            with contextlib.suppress(queue.Empty):
                while len(batch) < self.max_queued:
                    batch.append(lines.get_nowait())
            text = "\n".join(batch) + "\n"
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                text += self._dropped_line(dropped) + "\n"
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # the output is gone (closed pipe, closed file): the lines are lost
                pass
            self._written += len(batch)

    def _dropped_line(self, dropped: int) -> str:
        record = logging.LogRecord(
            "ledgergate.logs",
            logging.WARNING,
            __file__,
            0,
            "%d log lines dropped: the output did not keep up",
            (dropped,),
            None,
        )
        record.fields = {"event": "log.dropped", "dropped": dropped}
        return self.format(record)

    def flush(self) -> None:
        """Wait (at most ``FLUSH_TIMEOUT_S``) until every line queued so far is written."""
        if self._pid != os.getpid():
            return
        target, deadline = self._queued, time.monotonic() + FLUSH_TIMEOUT_S
        while self._written < target and time.monotonic() < deadline:
            time.sleep(0.005)


#: Libraries that log every HTTP request or MCP session at INFO: per-call lines cost time on the hot path
#: and put session ids in the logs.
QUIET = ("httpx", "httpx2", "httpcore", "httpcore2", "mcp", "uvicorn.access")


#: Libraries that log every failed reconnection during an outage, which the store's health logs once.
QUIET_IN_OUTAGES = ("psycopg.pool",)


def configure_logging(level: str, stream: str = "stderr", tracing: Callable[[], bool] = lambda: True) -> None:
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in QUIET_IN_OUTAGES:
        logging.getLogger(name).setLevel(max(logging.ERROR, logging.getLevelName(level)))
    # The JSON lines use neither the caller's file and line nor the thread's or process's names: without
    # them a record is made without walking the stack or asking multiprocessing (logging HOWTO, "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger("ledgergate")
    formatters = [h.formatter for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
    for formatter in formatters:
        formatter.tracing = tracing
    if not formatters:
        handler = LineWriter(sys.stdout if stream == "stdout" else sys.stderr)
        handler.setFormatter(JsonFormatter(tracing))
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)


def flush_logs() -> None:
    """Write out every queued line (a worker's lifespan ends with this)."""
    for handler in logging.getLogger("ledgergate").handlers:
        handler.flush()

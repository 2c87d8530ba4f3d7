"""What each request pays for its observability, and that it stays right: the JSON log lines' writer (the
caller never waits on the output, nothing is lost but what overflows, and that is counted; a forked child
writes its own lines; the per-request lines' short path writes exactly what logging would), the kept
metric series, and spans described only when tracing is on."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from ledgergate.api.logs import JsonFormatter, Lines, LineWriter
from ledgergate.api.metrics import McpMetrics

STALL_S = 2.0
FIELDS = {"event": "http.request", "method": "POST", "status": 200, "tenant": "acme", "token_id": None}


class StalledOutput(io.StringIO):
    """An output whose writes wait until it is released (a full pipe nobody reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()
        self.writes = 0

    def write(self, text: str) -> int:
        if not self.released.wait(STALL_S):  # stalled so long, it moves again (a writer in the caller returns)
            self.released.set()
        self.writes += 1
        return super().write(text)


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("ledgergate.test-lines")
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def writer_on(log: logging.Logger, output: io.StringIO, max_queued: int = 10_000) -> LineWriter:
    handler = LineWriter(output, max_queued=max_queued)
    handler.setFormatter(JsonFormatter(lambda: False))
    log.addHandler(handler)
    return handler


def lines_of(output: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


def test_a_caller_does_not_wait_for_a_stalled_output_and_every_line_arrives_once_it_moves(
    logger: logging.Logger,
) -> None:
    output = StalledOutput()
    handler = writer_on(logger, output)
    started = time.monotonic()
    for n in range(200):
        logger.info("line %d", n, extra={"fields": {"n": n}})
    assert time.monotonic() - started < STALL_S / 2  # a write in the caller would wait out the stall
    output.released.set()
    handler.flush()
    assert [line["n"] for line in lines_of(output)] == list(range(200))
    assert output.writes < 200  # what queued while the output stalled went out together


def test_lines_past_the_queue_bound_are_dropped_and_counted_in_a_line_of_their_own(logger: logging.Logger) -> None:
    output = StalledOutput()
    handler = writer_on(logger, output, max_queued=5)
    logger.info("first")
    time.sleep(0.2)  # the writer took "first" and now waits on the output
    for n in range(20):
        logger.info("line %d", n)
    output.released.set()
    handler.flush()
    logger.info("after")  # the count goes out with the next write at the latest
    handler.flush()
    found = lines_of(output)
    messages = [line["message"] for line in found]
    kept = [m for m in messages if m.startswith("line ")]
    assert messages[0] == "first" and kept == [f"line {n}" for n in range(len(kept))]
    assert len(kept) in (4, 5)  # five waiting at most, the one being written counted or not yet
    dropped = [line for line in found if line.get("event") == "log.dropped"]
    assert [line["dropped"] for line in dropped] == [20 - len(kept)] and dropped[0]["level"] == "WARNING"
    assert messages[-1] == "after"


def _child_logs(handler: LineWriter, path: str) -> None:
    log = logging.getLogger("ledgergate.test-lines")
    with open(path, "w") as out:
        handler.stream = out
        log.info("from the child")
        handler.flush()


def test_a_forked_child_writes_its_own_lines_with_a_writer_of_its_own(logger: logging.Logger, tmp_path) -> None:
    output = io.StringIO()
    handler = writer_on(logger, output)
    logger.info("from the parent")  # the parent's writer thread is running now
    handler.flush()
    child = multiprocessing.get_context("fork").Process(target=_child_logs, args=(handler, str(tmp_path / "child")))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    written = [json.loads(line) for line in (tmp_path / "child").read_text().splitlines()]
    assert [line["message"] for line in written] == ["from the child"]
    assert written[0]["pid"] == child.pid
    assert [line["message"] for line in lines_of(output)] == ["from the parent"]


def test_the_short_path_writes_what_logging_would(logger: logging.Logger) -> None:
    output = io.StringIO()
    handler = writer_on(logger, output)
    lines = Lines(logger.name)
    lines.log(logging.INFO, "POST /mcp 200", FIELDS)
    logger.info("%s", "POST /mcp 200", extra={"fields": FIELDS})
    handler.flush()
    short, full = lines_of(output)
    assert short.pop("time") and full.pop("time")
    assert short == full
    assert "token_id" not in short and short["tenant"] == "acme" and short["level"] == "INFO"


def test_with_another_handler_in_the_way_a_line_goes_through_logging(logger: logging.Logger) -> None:
    output = io.StringIO()
    writer_on(logger, output)
    seen: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(Capture())
    Lines(logger.name).log(logging.WARNING, "POST /mcp 502", FIELDS)
    assert [(r.getMessage(), r.levelno, r.fields) for r in seen] == [  # type: ignore[attr-defined]
        ("POST /mcp 502", logging.WARNING, FIELDS)
    ]


def test_kept_series_lookups_count_right_past_the_label_cap_and_the_memo_limit(monkeypatch) -> None:
    monkeypatch.setattr("ledgergate.api.metrics.MEMO_LIMIT", 3)
    metrics = McpMetrics(label_limit=2)
    for _ in range(2):
        for tool in ("a", "b", "c", "d", "e"):
            metrics.call("tools/call", "acme", None, "up", tool, "ok", 0.01)
    counted = {
        sample.labels["tool"]: sample.value
        for sample in metrics.tool_calls.collect()[0].samples
        if sample.name.endswith("_total")
    }
    assert counted == {"a": 2, "b": 2, "other": 6}
    assert len(metrics._series) <= 3


TRACING_PROBE = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from ledgergate.infrastructure import telemetry
described = []
def describe():
    described.append(1)
    return "tools/call echo", {}
with telemetry.outgoing(describe) as headers:
    off = (telemetry.tracing_enabled(), headers, len(described))
trace.set_tracer_provider(TracerProvider())  # an operator's instrumentation, not ours
with telemetry.outgoing(describe) as headers:
    on = (telemetry.tracing_enabled(), sorted(headers), len(described))
print(off, on)
"""


def test_a_span_is_described_only_when_tracing_is_on_and_a_global_provider_turns_it_on() -> None:
    done = subprocess.run([sys.executable, "-c", TRACING_PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(False, {}, 0) (True, ['traceparent'], 1)"

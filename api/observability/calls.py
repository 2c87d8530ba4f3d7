"""One log line, labelled metrics and span attributes per ``tools/call``, ``prompts/get`` and ``resources/read``.

Outcomes: ``ok``; ``error`` (the tool answered ``isError``); ``refused`` (the upstream answered with a
JSON-RPC error); ``failed`` (the upstream or API could not be reached, timed out, or the gateway
failed); ``invalid`` (arguments the tool's schema refuses); ``rate_limited``; ``cancelled`` (the
client went away). Arguments and results are logged only with ``LEDGERGATE_LOG_PAYLOADS=true``, with
the values of secret-looking keys masked and long values cut.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
from opentelemetry import trace

from ledgergate.api.logs import Lines
from ledgergate.api.metrics import McpMetrics
from ledgergate.application.upstream_facts import watch_upstream

__all__ = ["CallObserver", "CallRecord", "masked"]

log = Lines("ledgergate.calls")
SECRET_KEYS = re.compile(
    r"(pass(word|phrase)?|secret|token|api[-_]?key|authori[sz]ation|credential|cookie|private)", re.I
)
MASK = "***"
MAX_TEXT = 512
MAX_PAYLOAD = 4096
#: what each observed method is about (a task's result and cancellation: the tool the task runs)
TARGET_KEY = {
    "tools/call": "tool",
    "prompts/get": "prompt",
    "resources/read": "uri",
    "tasks/result": "tool",
    "tasks/cancel": "tool",
}


def masked(value: Any, depth: int = 0) -> Any:
    """``value`` with secret-looking keys' values masked and long strings cut (for logs only)."""
    if depth > 8:
        return "..."
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and SECRET_KEYS.search(k) else masked(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked(v, depth + 1) for v in value[:50]]
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + "..."
    return value


def _payload(value: Any) -> Any:
    encoded = msgspec.json.encode(masked(value))
    return masked(value) if len(encoded) <= MAX_PAYLOAD else encoded[:MAX_PAYLOAD].decode(errors="ignore") + "..."


@dataclass
class CallRecord:
    """Filled in by the method while it runs."""

    outcome: str = "ok"
    result: Any = None


class CallObserver:
    def __init__(
        self,
        metrics: McpMetrics,
        row_of: Callable[[str], Any],
        log_payloads: bool = False,
        tracing: Callable[[], bool] = lambda: True,
    ) -> None:
        self.tracing = tracing
        self.metrics = metrics
        self.row_of = row_of
        self.log_payloads = log_payloads

    def _name_of(self, item_id: str | None) -> str:
        row = self.row_of(item_id) if item_id else None
        return str(row.get("name") or item_id) if isinstance(row, dict) else (item_id or "")

    @contextmanager
    def observe(
        self, ctx: Any, method: str, target: str, row: dict[str, Any], arguments: Any = None
    ) -> Iterator[CallRecord]:
        source = row["doc"].get("source") or {}
        upstream = self._name_of(source.get("upstream_id")) if source else ""
        snapshot = ctx.snapshot
        server = snapshot.server_id or ""  # ids: a server's name may change, its series should not
        span = trace.get_current_span() if self.tracing() else None
        if span is not None and span.is_recording():
            self._describe(span, ctx, method, target, upstream, server)
        record = CallRecord()
        started = time.perf_counter()
        with watch_upstream() as facts:
            try:
                yield record
            except asyncio.CancelledError:
                record.outcome = "cancelled"
                raise
            except BaseException:
                if record.outcome == "ok":
                    record.outcome = "failed"
                raise
            finally:
                seconds = time.perf_counter() - started
                self.metrics.call(method, snapshot.tenant_id, server, upstream, target, record.outcome, seconds)
                if span is not None and span.is_recording() and record.outcome not in ("ok", "cancelled"):
                    span.set_attribute("error.type", record.outcome)
                    span.set_status(trace.StatusCode.ERROR, record.outcome)
                self._log(ctx, method, target, upstream, server, record, seconds, facts.status, arguments)

    @staticmethod
    def _describe(span: Any, ctx: Any, method: str, target: str, upstream: str, server: str) -> None:
        attributes: dict[str, Any] = {"ledgergate.tenant": ctx.snapshot.tenant_id}
        if server:
            attributes["ledgergate.server_id"] = server
        if upstream:
            attributes["ledgergate.upstream"] = upstream
        if method == "tools/call":
            span.update_name(f"{method} {target}")
            attributes |= {"gen_ai.tool.name": target, "gen_ai.operation.name": "execute_tool"}
        elif method == "prompts/get":
            span.update_name(f"{method} {target}")
            attributes["gen_ai.prompt.name"] = target
        else:
            attributes["mcp.resource.uri"] = target
        span.set_attributes(attributes)

    def _log(
        self,
        ctx: Any,
        method: str,
        target: str,
        upstream: str,
        server: str,
        record: CallRecord,
        seconds: float,
        status: int | None,
        arguments: Any,
    ) -> None:
        level = logging.WARNING if record.outcome in ("failed", "refused") else logging.INFO
        if not log.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "event": "mcp.call",
            "method": method,
            "tenant": ctx.snapshot.tenant_id,
            "server": server or None,
            TARGET_KEY[method]: target,
            "upstream": upstream or None,
            "outcome": record.outcome,
            "duration_ms": round(seconds * 1000, 3),
            "upstream_status": status,
            "token_id": ctx.token_id or None,
        }
        if self.log_payloads:
            if arguments is not None:
                fields["arguments"] = _payload(arguments)
            if record.result is not None:
                fields["result"] = _payload(record.result)
        log.log(level, f"{method} {target} {record.outcome}", fields)

"""The access log and the REST metrics: one JSON line and one observation per HTTP request.

It wraps the application's whole ASGI handler (not a route middleware), so unmatched paths (404),
refused methods and errors raised before a handler are counted too. Routes are logged and labelled
by their template (``/v1/tenants/{tenant}/tools/{item_id}``); unmatched ones as ``unmatched``. The
query string is never logged (tokens sent there are refused, but would still be in it). Probes and
scrapes (``/health``, ``/ready``, ``/metrics``) are logged at DEBUG, so the default level keeps the
log for real traffic. With tracing on, each request is a SERVER span continuing an incoming
``traceparent``, and its line carries the trace and span ids.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import propagate, trace

from ledgergate.api.logs import Lines
from ledgergate.api.observability.context import RequestFacts, begin, end

__all__ = ["AccessLog"]

log = Lines("ledgergate.access")
tracer = trace.get_tracer("ledgergate.http")
QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics"})
_CORRELATION = re.compile(r"^[\x21-\x7e]{1,128}$")


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


class AccessLog:
    def __init__(self, app: Any, enabled: bool = True, tracing: Callable[[], bool] = lambda: False) -> None:
        """``tracing``: whether traces are exported now (the composition root hands the telemetry's check)."""
        self.app = app
        self.enabled = enabled
        self.tracing = tracing

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        correlation = _header(scope, b"x-correlation-id")
        facts = RequestFacts(correlation_id=correlation if _CORRELATION.match(correlation) else "")
        status = 500  # a handler that raised past every exception handler
        token = begin(facts)

        async def capture(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.tracing():
                await self._traced(scope, receive, capture, facts, started, lambda: status)
            else:
                try:
                    await self.app(scope, receive, capture)
                finally:
                    self._record(scope, facts, status, started)
        finally:
            end(token)

    async def _traced(
        self, scope: Any, receive: Any, send: Any, facts: RequestFacts, started: float, status: Any
    ) -> None:
        carrier = {bytes(k).decode("latin-1"): bytes(v).decode("latin-1") for k, v in scope.get("headers") or ()}
        method = scope["method"]
        attributes = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
        }
        with tracer.start_as_current_span(
            method, context=propagate.extract(carrier), kind=trace.SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                route = scope.get("path_template")
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status())
                if status() >= 500:
                    span.set_status(trace.StatusCode.ERROR)
                if facts.tenant:
                    span.set_attribute("ledgergate.tenant", facts.tenant)
                self._record(scope, facts, status(), started)

    def _record(self, scope: Any, facts: RequestFacts, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = scope.get("path_template") or "unmatched"
        method = scope["method"]
        metrics = getattr(getattr(scope["app"].state, "mcp", None), "metrics", None) if "app" in scope else None
        if metrics is not None:
            metrics.http(method, route, status, seconds)
        if not self.enabled:
            return
        level = logging.DEBUG if route in QUIET_ROUTES else (logging.WARNING if status >= 500 else logging.INFO)
        if not log.isEnabledFor(level):
            return
        client = scope.get("client")
        fields = {
            "event": "http.request",
            "method": method,
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "tenant": facts.tenant or None,
            "token_id": facts.token_id or None,
            "correlation_id": facts.correlation_id or None,
            "client": client[0] if client else None,
        }
        log.log(level, f"{method} {route} {status}", fields)

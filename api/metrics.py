"""Prometheus metrics of this process (``/metrics``), through prometheus_client.

With several granian workers each worker answers with its own counters; scrape through a load
balancer that pins, or aggregate per instance.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["McpMetrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class McpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("ledgergate_mcp_requests", "MCP requests by method", ["method"], registry=self.registry)
        self.errors = Counter(
            "ledgergate_mcp_errors",
            "MCP error responses by method and JSON-RPC code",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ledgergate_mcp_request_seconds",
            "MCP request latency by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "ledgergate_tool_calls", "tools/call by tool and outcome", ["tool", "outcome"], registry=self.registry
        )
        self.tool_latency = Histogram(
            "ledgergate_tool_call_seconds",
            "tools/call latency by tool",
            ["tool"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.projection_lag = Gauge(
            "ledgergate_projection_lag_events",
            "events in the log not yet in this process's hot catalogs",
            registry=self.registry,
        )
        self.streams_open = Gauge(
            "ledgergate_mcp_streams_open", "client streams held by this process", registry=self.registry
        )
        self.sessions = Gauge(
            "ledgergate_mcp_sessions", "legacy MCP sessions in the session store", registry=self.registry
        )

    @contextmanager
    def request(self, method: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.requests.labels(method).inc()
            self.latency.labels(method).observe(time.perf_counter() - started)

    def error(self, method: str, code: int) -> None:
        self.errors.labels(method, str(code)).inc()

    def tool_call(self, tool: str, seconds: float, is_error: bool) -> None:
        self.tool_calls.labels(tool, "error" if is_error else "ok").inc()
        self.tool_latency.labels(tool).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

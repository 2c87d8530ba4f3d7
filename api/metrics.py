"""Prometheus metrics (``/metrics``), through prometheus_client.

One answer whichever worker serves the scrape: ``ledgergate serve`` with several workers gives them a
fresh per-run directory in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode); each
worker writes its counters and histograms there and the worker that answers a scrape adds them all
up. Values derived from the shared catalog (upstream health, catalog sizes) and the answering
worker's projection lag are computed at scrape time. Process metrics carry a ``pid`` label per worker
in multiprocess mode (see ``api.observability.process``).

Cardinality is bounded: each of the labels ``tenant``, ``server``, ``upstream``, ``tool`` and
``prompt`` admits at most ``LEDGERGATE_METRICS_MAX_LABEL_VALUES`` distinct values per process
(default 500); later values are counted under ``other``. Methods outside the protocol count as
``other``; routes are templates (``/v1/tenants/{tenant}/tools``), never paths; resource URIs are
never a label.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["OTHER", "LabelCap", "McpMetrics", "gauge", "multiprocess_dir"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
OTHER = "other"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MEMO_LIMIT = 10_000  # kept series lookups (see McpMetrics._record)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


class LabelCap:
    """At most ``limit`` distinct values per label name in this process; the rest become ``other``."""

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}

    def __call__(self, label: str, value: str) -> str:
        seen = self._seen.setdefault(label, set())
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        return OTHER


class _ScrapeTime(Collector):
    """Gauges computed when a scrape is answered, from what every worker shares (or this one's state)."""

    def __init__(self) -> None:
        self.sources: list[Callable[[], Iterable[Metric]]] = []

    def collect(self) -> Iterable[Metric]:
        for source in self.sources:
            yield from source()


class McpMetrics:
    def __init__(self, label_limit: int = 500) -> None:
        self.shared_dir = multiprocess_dir()
        if self.shared_dir and values.ValueClass is values.MutexValue:  # prometheus_client imported before the env
            values.ValueClass = values.get_value_class()
        self.cap = LabelCap(label_limit)
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ledgergate_mcp_requests", "MCP requests by method", ["method", "tenant", "server"], registry=r
        )
        self.errors = Counter(
            "ledgergate_mcp_errors",
            "MCP error responses by method and JSON-RPC code",
            ["method", "code", "tenant", "server"],
            registry=r,
        )
        self.latency = Histogram(
            "ledgergate_mcp_request_seconds",
            "MCP request latency by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        call = ["tenant", "server", "upstream"]
        self.tool_calls = Counter(
            "ledgergate_tool_calls", "tools/call by tool and outcome", [*call, "tool", "outcome"], registry=r
        )
        self.tool_latency = Histogram(
            "ledgergate_tool_call_seconds", "tools/call latency", [*call, "tool"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.prompt_gets = Counter(
            "ledgergate_prompt_gets", "prompts/get by prompt and outcome", [*call, "prompt", "outcome"], registry=r
        )
        self.resource_reads = Counter(
            "ledgergate_resource_reads",
            "resources/read by outcome (URIs are not a label)",
            [*call, "outcome"],
            registry=r,
        )
        self.upstream_requests = Counter(
            "ledgergate_upstream_requests",
            "requests forwarded to upstream MCP servers by method and outcome",
            ["tenant", "upstream", "method", "outcome"],
            registry=r,
        )
        self.upstream_latency = Histogram(
            "ledgergate_upstream_request_seconds",
            "latency of requests forwarded to upstream MCP servers",
            ["tenant", "upstream", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "ledgergate_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "ledgergate_http_request_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.streams_open = Gauge(
            "ledgergate_mcp_streams_open", "client streams held", registry=r, multiprocess_mode="livesum"
        )
        self._series: dict[tuple[Any, ...], tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        self.scrape_time = _ScrapeTime()
        self._scrape_registry = CollectorRegistry(auto_describe=False)
        self._scrape_registry.register(self.scrape_time)

    # -- recording ---------------------------------------------------------------------------------

    def _server(self, server: str | None) -> str:
        return self.cap("server", server) if server else ""

    @contextmanager
    def request(self, method: str, tenant: str = "", server: str | None = None) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._record(("request", method, tenant, server), time.perf_counter() - started)

    def error(self, method: str, code: int, tenant: str = "", server: str | None = None) -> None:
        self._record(("error", method, code, tenant, server))

    def call(
        self, method: str, tenant: str, server: str | None, upstream: str, name: str, outcome: str, seconds: float
    ) -> None:
        """One tools/call, prompts/get or resources/read; ``upstream`` is empty for the gateway's own items."""
        self._record(("call", method, tenant, server, upstream, name, outcome), seconds)

    def http(self, method: str, route: str, status: int, seconds: float) -> None:
        self._record(("http", method, route, status), seconds)

    def _record(self, key: tuple[Any, ...], seconds: float = 0.0) -> None:
        """Count and time one observation. Its labelled series are looked up once per distinct ``key`` and
        kept (prometheus_client's ``labels()`` validates, converts and locks on every call): about a tenth of
        the cost per request. The label cap maps a value the same way for the life of the process, so a
        kept lookup stays right; the memo is emptied when it outgrows ``MEMO_LIMIT`` (values past the cap)."""
        series = self._series.get(key)
        if series is None:
            series = self._series_of(key)
            if len(self._series) >= MEMO_LIMIT:
                self._series.clear()
            self._series[key] = series
        counters, histograms = series
        for counter in counters:
            counter.inc()
        for histogram in histograms:
            histogram.observe(seconds)

    def _series_of(self, key: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        kind, method, *rest = key
        if kind == "request":
            tenant, server = rest
            return (self.requests.labels(method, self.cap("tenant", tenant), self._server(server)),), (
                self.latency.labels(method),
            )
        if kind == "error":
            code, tenant, server = rest
            return (self.errors.labels(method, str(code), self.cap("tenant", tenant), self._server(server)),), ()
        if kind == "http":
            route, status = rest
            return (self.http_requests.labels(method, route, str(status)),), (self.http_latency.labels(method, route),)
        tenant, server, upstream, name, outcome = rest
        tenant = self.cap("tenant", tenant)
        labels = (tenant, self._server(server), self.cap("upstream", upstream) if upstream else "")
        counters: list[Any] = []
        histograms: list[Any] = []
        if method == "tools/call":
            tool = self.cap("tool", name)
            counters.append(self.tool_calls.labels(*labels, tool, outcome))
            histograms.append(self.tool_latency.labels(*labels, tool))
        elif method == "prompts/get":
            counters.append(self.prompt_gets.labels(*labels, self.cap("prompt", name), outcome))
        else:
            counters.append(self.resource_reads.labels(*labels, outcome))
        if upstream:
            counters.append(self.upstream_requests.labels(tenant, labels[2], method, outcome))
            histograms.append(self.upstream_latency.labels(tenant, labels[2], method))
        return tuple(counters), tuple(histograms)

    # -- answering a scrape ------------------------------------------------------------------------

    def add_scrape_source(self, source: Callable[[], Iterable[Metric]]) -> None:
        self.scrape_time.sources.append(source)

    def render(self) -> bytes:
        if self.shared_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.shared_dir)
        else:
            registry = self.registry
        return generate_latest(registry) + generate_latest(self._scrape_registry)


def gauge(name: str, documentation: str, labels: list[str], rows: Iterable[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in rows:
        family.add_metric(label_values, value)
    return family

"""Process, Python, upstream-health and projection metrics.

Single process: prometheus_client's own process, platform and GC collectors. Several workers
(multiprocess mode): those collectors only see the process that runs them, so each worker copies
their samples into ``liveall`` gauges of the same names every few seconds (and the answering worker
just before a scrape); each series then has a ``pid`` label, and a worker that stops takes its series
with it. Upstream health and catalog-derived gauges are computed by the answering worker from its hot
catalog, which every worker holds at the same position.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, Gauge, multiprocess
from prometheus_client.core import Metric

from ledgergate.api.metrics import McpMetrics, gauge
from ledgergate.application.errors import StoreUnavailableError

__all__ = ["ProcessSampler", "catalog_source"]

SAMPLE_EVERY_S = 5.0
HEALTH_STATES = ("healthy", "degraded", "unreachable", "unknown")


class ProcessSampler:
    def __init__(self, metrics: McpMetrics, also: Callable[[], None] | None = None) -> None:
        self.metrics = metrics
        self.also = also
        self._gauges: dict[str, Gauge] = {}
        if not metrics.shared_dir:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                metrics.registry.register(collector)

    def sample(self) -> None:
        if self.also is not None:
            self.also()
        if not self.metrics.shared_dir:
            return
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            for family in collector.collect():
                for s in family.samples:
                    keys = tuple(sorted(s.labels))
                    metric = self._gauges.get(s.name)
                    if metric is None:
                        metric = self._gauges[s.name] = Gauge(
                            s.name, family.documentation, keys, registry=None, multiprocess_mode="liveall"
                        )
                    (metric.labels(*(s.labels[k] for k in keys)) if keys else metric).set(s.value)

    async def run(self, stopped: asyncio.Event) -> None:
        while not stopped.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), SAMPLE_EVERY_S)

    def close(self) -> None:
        """This worker's live gauges leave the shared directory with it."""
        if self.metrics.shared_dir:
            multiprocess.mark_process_dead(os.getpid(), self.metrics.shared_dir)


def catalog_source(runtime: Any, metrics: McpMetrics) -> Callable[[], Iterable[Metric]]:
    """Gauges from the hot catalog and the log's head, computed by the worker answering the scrape."""

    def collect() -> Iterable[Metric]:
        hot = runtime.hot
        if hot is None:
            return
        try:
            head = runtime.registry.recorder.max_notification_id() or 0
        except StoreUnavailableError:  # the database is away: no lag to report
            pass
        else:
            yield gauge(
                "ledgergate_projection_lag_events",
                "events in the log not yet in the hot catalogs of the worker answering",
                [],
                [([], max(0, head - hot.position))],
            )
        yield gauge("ledgergate_projection_position", "the hot catalogs' position in the log", [], [([], hot.position)])
        counts: dict[tuple[str, str], int] = {}
        up: list[tuple[list[str], float]] = []
        for row in hot.rows_of_kind("upstream"):
            health = row["doc"].get("health")
            state = (health.get("state") if isinstance(health, dict) else health) or "unknown"
            state = state if state in HEALTH_STATES else "unknown"
            tenant = metrics.cap("tenant", row["tenant_id"])
            counts[(tenant, state)] = counts.get((tenant, state), 0) + 1
            name = metrics.cap("upstream", str(row.get("name")))
            if name != "other" and tenant != "other":
                up.append(([tenant, name], 1.0 if state in ("healthy", "degraded") and row["enabled"] else 0.0))
        yield gauge(
            "ledgergate_upstreams",
            "registered upstreams by health state",
            ["tenant", "state"],
            [([t, s], n) for (t, s), n in counts.items()],
        )
        yield gauge(
            "ledgergate_upstream_up", "1 when an enabled upstream answers its probes", ["tenant", "upstream"], up
        )

    return collect

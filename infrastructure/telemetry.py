"""OpenTelemetry tracing, switched on by the standard ``OTEL_*`` environment variables alone.

``configure_tracing`` runs in each serving process (granian workers included, after they start), so
every worker has its own provider and export thread. Tracing is on when ``OTEL_SDK_DISABLED`` is not
true and ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP endpoint is
set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); everything else
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``,
``OTEL_EXPORTER_OTLP_HEADERS``...) is read by the SDK itself. Export is OTLP over HTTP (protobuf).

The upstream clients use :func:`outgoing` around each request they send: a CLIENT span whose W3C
context (``traceparent``, ``tracestate``) goes into the HTTP headers and, for MCP, into ``_meta``.
:func:`watch_upstream` lets the caller of a forwarded call learn the upstream's HTTP status.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace

from ledgergate.application.upstream_facts import UpstreamFacts, note_upstream_status, watch_upstream

__all__ = [
    "UpstreamFacts",
    "configure_tracing",
    "outgoing",
    "record_upstream_status",
    "shutdown_tracing",
    "tracing_enabled",
    "watch_upstream",
]

log = logging.getLogger("ledgergate.telemetry")
_tracer = trace.get_tracer("ledgergate")
_provider: Any = None
_PROVIDER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def _wanted(env: dict[str, str] | os._Environ[str]) -> list[str]:
    """The trace exporters the environment asks for (empty: tracing off)."""
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in (env.get("OTEL_TRACES_EXPORTER") or "").split(",") if n.strip()]
    if names:
        return [n for n in names if n != "none"]
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return ["otlp"] if endpoint else []


def configure_tracing(service_version: str) -> bool:
    """Set this process's tracer provider from ``OTEL_*``; True if tracing is on. Idempotent per process."""
    global _provider
    if _provider is not None:
        return True
    exporters = _wanted(os.environ)
    if not exporters:
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    ours: dict[str, Any] = {SERVICE_VERSION: service_version, "process.pid": os.getpid()}
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if not named:
        ours[SERVICE_NAME] = "ledgergate"
    provider = TracerProvider(resource=Resource.create({}).merge(Resource(ours)))
    for name in exporters:
        if name == "otlp":
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            if protocol != "http/protobuf":
                log.warning(
                    "OTEL_EXPORTER_OTLP_PROTOCOL=%s is not available; exporting with http/protobuf",
                    protocol,
                    extra={"fields": {"protocol": protocol}},
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            log.warning("OTEL_TRACES_EXPORTER names %r, which is not available; ignored", name)
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("tracing on", extra={"fields": {"exporters": ",".join(exporters)}})
    return True


def shutdown_tracing() -> None:
    """Export what is buffered and stop the export thread (at the end of a worker's life)."""
    if _provider is not None:
        _provider.shutdown()


_global_provider = False  # a provider someone else set globally (OpenTelemetry sets one at most once)


def tracing_enabled() -> bool:
    """Whether spans are made: this process configured tracing, or a global provider was set (by an
    operator's instrumentation). Asked several times per request, so the answer costs an attribute read
    until then; where the library keeps its global elsewhere, it is asked as it documents."""
    global _global_provider
    if _provider is not None or _global_provider:
        return True
    if getattr(trace, "_TRACER_PROVIDER", True) is None and not _PROVIDER_FROM_ENV:
        return False
    _global_provider = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return _global_provider


@contextmanager
def outgoing(describe: Callable[[], tuple[str, dict[str, Any]]]) -> Iterator[dict[str, str]]:
    """A CLIENT span around one request to an upstream, named and described by ``describe()`` (called only
    when tracing is on: without it a call pays for nothing); yields the W3C headers that carry it (empty
    without tracing, so nothing is added to the request)."""
    if not tracing_enabled():
        yield {}
        return
    name, attributes = describe()
    with _tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield carrier


def record_upstream_status(status: int) -> None:
    """The HTTP status an upstream answered the current call with (and on its span, if any)."""
    note_upstream_status(status)
    if not tracing_enabled():
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("http.response.status_code", status)

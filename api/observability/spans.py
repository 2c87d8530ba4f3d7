"""The SERVER span of one MCP request, named and described as the OpenTelemetry MCP conventions say.

Its parent is the W3C context in the request's ``_meta`` (``traceparent``/``tracestate``) when the
client sent one there, else the HTTP request's span (which continued a ``traceparent`` header), else
the headers' context. ``mcp.session.id`` is a truncated SHA-256 of the session id, never the id itself
(it lets its holder continue the session).
"""

from __future__ import annotations

import hashlib
from typing import Any

from opentelemetry import propagate, trace

__all__ = ["request_span", "session_ref"]

tracer = trace.get_tracer("ledgergate.mcp")


def session_ref(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def _parent(ctx: Any, params: dict[str, Any]) -> Any:
    meta = params.get("_meta")
    if isinstance(meta, dict) and isinstance(meta.get("traceparent"), str):
        return propagate.extract({k: v for k, v in meta.items() if isinstance(v, str)})
    if trace.get_current_span().get_span_context().is_valid:
        return None  # the HTTP request's span
    return ctx.trace_context


def request_span(ctx: Any, method: str, label: str, request_id: Any, params: dict[str, Any]) -> Any:
    attributes: dict[str, Any] = {
        "mcp.method.name": label,
        "network.transport": "tcp",
        "network.protocol.name": "http",
        "ledgergate.tenant": ctx.snapshot.tenant_id,
    }
    if request_id is not None:
        attributes["jsonrpc.request.id"] = str(request_id)
    if ctx.snapshot.server_id:
        attributes["ledgergate.server_id"] = ctx.snapshot.server_id
    if ctx.session is not None:
        attributes["mcp.session.id"] = session_ref(ctx.session.id)
        attributes["mcp.protocol.version"] = ctx.session.protocol_version
    elif isinstance(ctx.meta.get("io.modelcontextprotocol/protocolVersion"), str):
        attributes["mcp.protocol.version"] = ctx.meta["io.modelcontextprotocol/protocolVersion"]
    if method == "tools/call":
        attributes["gen_ai.operation.name"] = "execute_tool"
    return tracer.start_as_current_span(
        label, context=_parent(ctx, params), kind=trace.SpanKind.SERVER, attributes=attributes
    )

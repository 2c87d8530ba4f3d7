"""MCP methods answered from a hot-catalog snapshot. Each returns the encoded ``result`` object.

List methods return pages encoded when the snapshot was built; only calls (tools, prompts,
resources) encode per request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from jsonschema import Draft202012Validator
from opentelemetry import propagate

from ledgergate.api.mcp.client_requests import askable_capabilities
from ledgergate.api.mcp.modern_rules import META_CAPABILITIES
from ledgergate.api.mcp.protocol import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    LATEST_LEGACY,
    LEGACY_VERSIONS,
    METHOD_NOT_FOUND,
    MODERN_VERSIONS,
    RESOURCE_NOT_FOUND,
    RpcError,
)
from ledgergate.api.metrics import McpMetrics
from ledgergate.api.observability import CallObserver
from ledgergate.application.errors import ToolCallError, ValidationError
from ledgergate.application.forwarding import InputRelay, UpstreamForwarder, UpstreamRefusedError
from ledgergate.application.prompt_rendering import PromptRenderer
from ledgergate.application.sessions import McpSession
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.values import check_uri
from ledgergate.projections.hot_catalog import Snapshot, decode_page_cursor

__all__ = ["SERVER_INFO", "CallLimits", "McpContext", "McpMethods", "capabilities"]

log = logging.getLogger("ledgergate.mcp")

SERVER_INFO = {"name": "ledgergate", "title": "Ledgergate", "version": "0.1.0"}
LIST_METHODS = {
    "tools/list": "tools",
    "resources/list": "resources",
    "prompts/list": "prompts",
    "resources/templates/list": "resourceTemplates",
}
_encode = msgspec.json.encode


def capabilities(era: str) -> dict[str, Any]:
    caps: dict[str, Any] = {
        "tools": {"listChanged": True},
        "resources": {"listChanged": True, "subscribe": True},
        "prompts": {"listChanged": True},
        "completions": {},
    }
    if era == "legacy":
        caps["logging"] = {}
    return caps


@dataclass
class McpContext:
    era: str  # "legacy" | "modern"
    snapshot: Snapshot
    session: McpSession | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    trace_context: Any = None  # the caller's W3C trace context, parent of this request's span
    progress: Any = None  # async (progress, total, message) -> None, when the client asked for progress
    token_id: str = ""
    ask: Any = None  # async (method, params) -> {"result"|"error": ...}: asks a legacy client mid-call
    notify: Any = None  # async (notification) -> None: onto the call's stream, when it has one


#: RFC 5424 severities, as MCP names them, least severe first
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"


def log_level(ctx: McpContext) -> str | None:
    """The level the client wants log messages at: ``logging/setLevel`` of its session (legacy) or the
    request's ``_meta`` (2026-07-28); None: no log messages."""
    level = ctx.meta.get(META_LOG_LEVEL) if ctx.era == "modern" else (ctx.session.log_level if ctx.session else None)
    return level if level in LOG_LEVELS else None


def _notifier(ctx: McpContext, level: str | None) -> Any:
    """Relays the upstream's notifications about a call; log messages only at or above the client's level."""
    notify = ctx.notify
    if notify is None:
        return None
    least = LOG_LEVELS.index(level) if level is not None else len(LOG_LEVELS)

    async def relay(message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params")
        if method == "notifications/message":
            given = params.get("level") if isinstance(params, dict) else None
            if given not in LOG_LEVELS or LOG_LEVELS.index(given) < least:
                return
        elif method == "notifications/progress":
            return  # progress is relayed with the gateway's own token
        await notify(method, params if isinstance(params, dict) else {})

    return relay


def _input_relay(ctx: McpContext, params: dict[str, Any]) -> InputRelay:
    level = log_level(ctx)
    notify = _notifier(ctx, level)
    if ctx.era == "modern":
        retry: dict[str, Any] = {k: params[k] for k in ("inputResponses", "requestState") if k in params}
        caps = askable_capabilities(ctx.meta.get(META_CAPABILITIES))
        return InputRelay(caps, retry, log_level=level, notify=notify, modern=True, caller=ctx.token_id)
    if ctx.ask is None or ctx.session is None:
        return InputRelay(log_level=level, notify=notify)
    caps = askable_capabilities(ctx.session.client_capabilities)
    return InputRelay(caps, ask=ctx.ask, log_level=level, notify=notify)


def _refusal(exc: UpstreamRefusedError) -> RpcError:
    return RpcError(exc.code, exc.message, exc.data)


def _unknown_resource(ctx: McpContext, uri: str) -> RpcError:
    """A URI not in the catalog: -32602 if it is not even an absolute URI (the catalog holds none such),
    else resource-not-found, which is -32002 in legacy sessions and -32602 in 2026-07-28."""
    try:
        check_uri("uri", uri)
    except InvalidValueError:
        return RpcError(INVALID_PARAMS, "Invalid params: uri must be an absolute URI", data={"uri": uri})
    code = INVALID_PARAMS if ctx.era == "modern" else RESOURCE_NOT_FOUND
    return RpcError(code, f"Resource not found: {uri}", data={"uri": uri})


def _client(ctx: McpContext) -> str:
    """Whom a ``per_client`` upstream keeps a session for: the downstream session, else the token."""
    return ctx.session.id if ctx.session is not None else ctx.token_id


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: int) -> bool: ...


@dataclass
class CallLimits:
    """Per-token and per-tenant limits on tools/call per minute (0: unlimited)."""

    limiter: RateLimiter
    per_token: int = 0
    per_tenant: int = 0

    async def check(self, tenant_id: str, token_id: str) -> str | None:
        if self.per_tenant and not await self.limiter.hit(f"tenant:{tenant_id}", self.per_tenant, 60):
            return f"rate limit: tenant {tenant_id} is over {self.per_tenant} tool calls a minute; retry shortly"
        if self.per_token and not await self.limiter.hit(f"token:{token_id}", self.per_token, 60):
            return f"rate limit: this token is over {self.per_token} tool calls a minute; retry shortly"
        return None


ToolCaller = Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any]]]


class McpMethods:
    def __init__(
        self,
        call_rest_tool: ToolCaller,
        renderer: PromptRenderer,
        metrics: McpMetrics,
        forwarder: UpstreamForwarder,
        limits: CallLimits,
        log_payloads: bool = False,
    ) -> None:
        self.limits = limits
        self.call_rest_tool = call_rest_tool
        self.renderer = renderer
        self.metrics = metrics
        self.forwarder = forwarder
        #: (ResourceUpdates, SessionStore, SseRelay) for resources/subscribe; None: not offered
        self.subscriptions: tuple[Any, Any, Any] | None = None
        self.observer = CallObserver(metrics, forwarder.hot.row, log_payloads)
        self._validators: dict[tuple[str, int], Draft202012Validator] = {}

    def _complete(self, ctx: McpContext, result: dict[str, Any]) -> bytes:
        if ctx.era == "modern":
            result = {**result, "resultType": "complete"}
        return _encode(result)

    # -- lifecycle ---------------------------------------------------------------------------------

    @staticmethod
    def negotiate(requested: Any) -> str:
        return requested if requested in LEGACY_VERSIONS else LATEST_LEGACY

    @staticmethod
    def initialize_result(version: str) -> bytes:
        return _encode(
            {
                "protocolVersion": version,
                "capabilities": capabilities("legacy"),
                "serverInfo": SERVER_INFO,
                "instructions": "Tools, resources and prompts of this Ledgergate catalog.",
            }
        )

    @staticmethod
    def discover_result(ttl_ms: int) -> bytes:
        return _encode(
            {
                "supportedVersions": list(MODERN_VERSIONS),
                "capabilities": capabilities("modern"),
                "resultType": "complete",
                "ttlMs": ttl_ms,
                "cacheScope": "private",
                "_meta": {"io.modelcontextprotocol/serverInfo": SERVER_INFO},
            }
        )

    # -- dispatch ----------------------------------------------------------------------------------

    async def dispatch(self, ctx: McpContext, method: str, params: dict[str, Any]) -> bytes:
        """``params`` have the shape the method's schema gives them (``api.mcp.params.check_params``)."""
        kind = LIST_METHODS.get(method)
        if kind is not None:
            return self.list_page(ctx, kind, params)
        if method == "tools/call":
            return await self.call_tool(ctx, params)
        if method == "prompts/get":
            return await self.get_prompt(ctx, params)
        if method == "resources/read":
            return await self.read_resource(ctx, params)
        if method == "completion/complete":
            return await self.complete(ctx, params)
        if ctx.era == "legacy":
            if method in ("resources/subscribe", "resources/unsubscribe"):
                return await self.subscribe(ctx, params, method == "resources/subscribe")
            if method == "ping":
                return b"{}"
            if method == "logging/setLevel":  # kept by the gateway (see McpGateway._set_level)
                return b"{}"
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    def list_page(self, ctx: McpContext, kind: str, params: dict[str, Any]) -> bytes:
        cursor = params.get("cursor")
        index = 0 if cursor is None else decode_page_cursor(cursor)
        page = ctx.snapshot.page(ctx.era, kind, index) if index is not None else None
        if page is None:
            raise RpcError(INVALID_PARAMS, "Invalid cursor")
        return page

    # -- tools -------------------------------------------------------------------------------------

    def _validator(self, row: dict[str, Any]) -> Draft202012Validator:
        key = (row["id"], row["version"])
        validator = self._validators.get(key)
        if validator is None:
            if len(self._validators) > 10_000:
                self._validators.clear()
            validator = self._validators[key] = Draft202012Validator(row["doc"]["input_schema"])
        return validator

    async def call_tool(self, ctx: McpContext, params: dict[str, Any]) -> bytes:
        name = params["name"]
        row = ctx.snapshot.tools.get(name)
        if row is None:
            raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
        arguments = params.get("arguments")
        arguments = {} if arguments is None else arguments
        with self.observer.observe(ctx, "tools/call", name, row, arguments) as record:
            refusal = await self.limits.check(ctx.snapshot.tenant_id, ctx.token_id)
            if refusal is not None:
                record.outcome = "rate_limited"
                return self._complete(ctx, {"content": [{"type": "text", "text": refusal}], "isError": True})
            if row["doc"].get("source"):
                result = await self._forward_tool(ctx, row, arguments, params, record)
            else:
                result = await self._call_rest_tool(ctx, row, arguments, record)
            record.result = result
            if record.outcome == "ok" and result.get("isError"):
                record.outcome = "error"
        if ctx.era == "modern" and result.get("resultType") == "input_required":
            return _encode(result)  # the client fulfils the requests and retries; we pass both through
        return self._complete(ctx, result)

    async def _call_rest_tool(
        self, ctx: McpContext, row: dict[str, Any], arguments: dict[str, Any], record: Any
    ) -> dict[str, Any]:
        errors = sorted(self._validator(row).iter_errors(arguments), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "arguments"
            record.outcome = "invalid"
            return {
                "content": [{"type": "text", "text": f"Invalid arguments: {where}: {errors[0].message}"}],
                "isError": True,
            }
        try:
            return await self.call_rest_tool(ctx.snapshot.tenant_id, row["doc"], arguments)
        except ToolCallError as exc:
            record.outcome = "failed"
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}

    async def _forward_tool(
        self, ctx: McpContext, row: dict[str, Any], arguments: dict[str, Any], params: dict[str, Any], record: Any
    ) -> dict[str, Any]:
        meta = params.get("_meta")
        meta = dict(meta) if isinstance(meta, dict) else {}
        propagate.inject(meta)  # W3C trace context in _meta, for upstreams reached through the SDK (stdio, SSE)
        try:
            result = await self.forwarder.call_tool(
                ctx.snapshot.tenant_id,
                row,
                arguments,
                meta or None,
                _client(ctx),
                ctx.progress,
                ctx.session,
                _input_relay(ctx, params),
            )
        except UpstreamRefusedError as exc:
            record.outcome = "refused"
            raise _refusal(exc) from None
        except ToolCallError as exc:
            record.outcome = "failed"
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        if result.get("resultType") == "input_required":
            if ctx.era == "modern":
                return result
            text = "the upstream needs input (sampling, elicitation or roots) this client did not declare"
            result = {"content": [{"type": "text", "text": text}], "isError": True}
        result.pop("resultType", None)
        return result

    # -- prompts and resources ---------------------------------------------------------------------

    async def subscribe(self, ctx: McpContext, params: dict[str, Any], on: bool) -> bytes:
        if ctx.session is None or self.subscriptions is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found: this gateway offers no resource subscriptions")
        uri = params["uri"]
        row = ctx.snapshot.resources.get(uri)
        if row is None:
            raise _unknown_resource(ctx, uri)
        updates, sessions, relay = self.subscriptions
        try:
            await updates.set(ctx.snapshot.tenant_id, ctx.session, row, on, sessions, relay)
        except ToolCallError as exc:
            raise RpcError(INTERNAL_ERROR, str(exc)) from None
        return b"{}"

    async def get_prompt(self, ctx: McpContext, params: dict[str, Any]) -> bytes:
        name = params["name"]
        row = ctx.snapshot.prompts.get(name)
        if row is None:
            raise RpcError(INVALID_PARAMS, f"Unknown prompt: {name}")
        arguments = params.get("arguments")
        arguments = {} if arguments is None else arguments
        with self.observer.observe(ctx, "prompts/get", name, row, arguments) as record:
            return await self._prompt(ctx, row, arguments, params, record)

    async def _prompt(
        self, ctx: McpContext, row: dict[str, Any], arguments: dict[str, Any], params: dict[str, Any], record: Any
    ) -> bytes:
        if row["doc"].get("source"):
            try:
                result = await self.forwarder.get_prompt(
                    ctx.snapshot.tenant_id, row, arguments, _client(ctx), ctx.session, _input_relay(ctx, params)
                )
            except UpstreamRefusedError as exc:
                record.outcome = "refused"
                raise _refusal(exc) from None
            except ToolCallError as exc:
                record.outcome = "failed"
                raise RpcError(INTERNAL_ERROR, str(exc)) from None
            if result.get("resultType") == "input_required":
                if ctx.era == "modern":
                    return _encode(result)
                raise RpcError(INTERNAL_ERROR, "the upstream needs input this client did not declare")
            result.pop("resultType", None)
            return self._complete(ctx, result)
        try:
            return self._complete(ctx, self.renderer.render(row["doc"], arguments))
        except ValidationError as exc:
            record.outcome = "invalid"
            raise RpcError(INVALID_PARAMS, exc.detail) from None

    async def read_resource(self, ctx: McpContext, params: dict[str, Any]) -> bytes:
        uri = params["uri"]
        row = ctx.snapshot.resources.get(uri)
        concrete = None
        if row is None:  # a URI of an upstream's resource template is read there
            row = ctx.snapshot.template_for(uri)
            if row is None or not row["doc"].get("source"):
                raise _unknown_resource(ctx, uri)
            concrete = uri
        with self.observer.observe(ctx, "resources/read", uri, row) as record:
            return await self._read(ctx, row, concrete, record)

    async def _read(self, ctx: McpContext, row: dict[str, Any], concrete: str | None, record: Any) -> bytes:
        doc = row["doc"]
        if doc.get("source"):
            try:
                forwarded = await self.forwarder.read_resource(
                    ctx.snapshot.tenant_id, row, _client(ctx), ctx.session, concrete
                )
            except UpstreamRefusedError as exc:
                record.outcome = "refused"
                raise _refusal(exc) from None
            except ToolCallError as exc:
                record.outcome = "failed"
                raise RpcError(INTERNAL_ERROR, str(exc)) from None
            forwarded.pop("resultType", None)
            if ctx.era == "modern":
                forwarded |= {"ttlMs": 60_000, "cacheScope": "private"}
            return self._complete(ctx, forwarded)
        content: dict[str, Any] = {"uri": doc["uri"], "mimeType": doc.get("mime_type") or "text/plain"}
        if doc.get("text") is not None:
            content["text"] = doc["text"]
        else:
            content["blob"] = doc.get("blob") or ""
        result: dict[str, Any] = {"contents": [content]}
        if ctx.era == "modern":
            result |= {"ttlMs": 60_000, "cacheScope": "private"}
        return self._complete(ctx, result)

    async def complete(self, ctx: McpContext, params: dict[str, Any]) -> bytes:
        ref, argument = params["ref"], params["argument"]
        if ref["type"] == "ref/prompt":
            row = ctx.snapshot.prompts.get(ref["name"])
            if row is None:
                raise RpcError(INVALID_PARAMS, f"Unknown prompt: {ref['name']}")
            declared = {a["name"] for a in row["doc"].get("arguments") or []}
            if argument["name"] not in declared:
                raise RpcError(INVALID_PARAMS, f"prompt {ref['name']} has no argument {argument['name']}")
        else:
            row = ctx.snapshot.resources.get(ref["uri"]) or ctx.snapshot.templates.get(ref["uri"])
            if row is None:
                raise RpcError(INVALID_PARAMS, f"Unknown resource: {ref['uri']}")
        if row["doc"].get("source"):  # the upstream knows its values
            try:
                forwarded = await self.forwarder.complete(
                    ctx.snapshot.tenant_id, row, {**params, "ref": ref, "argument": argument}, _client(ctx), ctx.session
                )
            except UpstreamRefusedError as exc:
                raise _refusal(exc) from None
            except ToolCallError as exc:
                raise RpcError(INTERNAL_ERROR, str(exc)) from None
            forwarded.pop("resultType", None)
            return self._complete(ctx, forwarded)
        # Stored prompts declare no value sets, so there is nothing to suggest.
        return self._complete(ctx, {"completion": {"values": [], "total": 0, "hasMore": False}})

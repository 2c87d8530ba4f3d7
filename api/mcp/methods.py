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
from opentelemetry import propagate, trace

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
from ledgergate.application.upstream_tasks import (
    RELATED_TASK,
    TASK_METHODS,
    TaskIds,
    TaskOwner,
    declared_tasks,
    runs_as_task,
)
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


#: what the gateway declares of 2025-11-25 tasks when it can pass them: task-augmented tools/call and
#: tasks/cancel; not tasks/list (an upstream lists the tasks of every token of the tenant; see the docs)
TASKS_CAPABILITY = {"cancel": {}, "requests": {"tools": {"call": {}}}}
#: the one legacy revision that has tasks
TASKS_SINCE = "2025-11-25"


def capabilities(era: str, tasks: bool = False) -> dict[str, Any]:
    """``tasks``: the endpoint has tools that run as tasks (legacy only: 2026-07-28 has the tasks extension,
    which the gateway does not offer)."""
    caps: dict[str, Any] = {
        "tools": {"listChanged": True},
        "resources": {"listChanged": True, "subscribe": True},
        "prompts": {"listChanged": True},
        "completions": {},
    }
    if era == "legacy":
        caps["logging"] = {}
        if tasks:
            caps["tasks"] = TASKS_CAPABILITY
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
        elif method == "notifications/tasks/status":
            return  # it names the upstream's task id; the client polls tasks/get (it MUST NOT rely on these)
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
        tracing: Callable[[], bool] = lambda: True,
    ) -> None:
        """``tracing``: whether spans are made (the composition root hands the telemetry's check), so that a
        call looks for a span to describe or continue only then."""
        self.limits = limits
        self.tracing = tracing
        self.call_rest_tool = call_rest_tool
        self.renderer = renderer
        self.metrics = metrics
        self.forwarder = forwarder
        #: (ResourceUpdates, SessionStore, SseRelay) for resources/subscribe; None: not offered
        self.subscriptions: tuple[Any, Any, Any] | None = None
        self.observer = CallObserver(metrics, forwarder.hot.row, log_payloads, tracing)
        #: seals the task ids of upstream tasks; None: tasks are not passed
        self.tasks: TaskIds | None = None
        self._validators: dict[tuple[str, int], Draft202012Validator] = {}

    def _complete(self, ctx: McpContext, result: dict[str, Any]) -> bytes:
        if ctx.era == "modern":
            result = {**result, "resultType": "complete"}
        return _encode(result)

    # -- lifecycle ---------------------------------------------------------------------------------

    @staticmethod
    def negotiate(requested: Any) -> str:
        return requested if requested in LEGACY_VERSIONS else LATEST_LEGACY

    def passes_tasks(self, snapshot: Snapshot, version: str) -> bool:
        """The gateway declares ``tasks`` on an endpoint only where a tool can run as one, to 2025-11-25 sessions."""
        if version != TASKS_SINCE or self.tasks is None:
            return False
        return any(runs_as_task(row["doc"]) for row in snapshot.tools.values())

    @staticmethod
    def initialize_result(version: str, tasks: bool = False) -> bytes:
        return _encode(
            {
                "protocolVersion": version,
                "capabilities": capabilities("legacy", tasks),
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
            if method in TASK_METHODS:
                return await self.task_request(ctx, method, params)
            if method == "tasks/list":
                raise RpcError(METHOD_NOT_FOUND, "Method not found: tasks/list is not offered by this gateway")
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
        task = self._task_of(ctx, row, params)
        with self.observer.observe(ctx, "tools/call", name, row, arguments) as record:
            refusal = await self.limits.check(ctx.snapshot.tenant_id, ctx.token_id)
            if refusal is not None:
                record.outcome = "rate_limited"
                return self._complete(ctx, {"content": [{"type": "text", "text": refusal}], "isError": True})
            if row["doc"].get("source"):
                result = await self._forward_tool(ctx, row, arguments, params, record, task)
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

    def _task_of(self, ctx: McpContext, row: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        """The call's ``task`` augmentation, passed on only for a legacy client that declared ``tasks``; a
        client that did not is never answered with a task (its ``task`` is ignored, as the spec has a receiver
        ignore one it did not offer). Raises: RpcError -32601 for a tool that does not run as a task."""
        task = params.get("task")
        if task is None or ctx.era != "legacy" or ctx.session is None or ctx.session.protocol_version != TASKS_SINCE:
            return None
        if not declared_tasks(ctx.session.client_capabilities):
            return None
        if self.tasks is None or not runs_as_task(row["doc"]):
            raise RpcError(METHOD_NOT_FOUND, f"Tool {params['name']} does not run as a task")
        return dict(task)

    def _owner(self, ctx: McpContext) -> TaskOwner:
        return TaskOwner(ctx.snapshot.tenant_id, ctx.snapshot.server_id, ctx.token_id)

    async def _forward_tool(
        self,
        ctx: McpContext,
        row: dict[str, Any],
        arguments: dict[str, Any],
        params: dict[str, Any],
        record: Any,
        task: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        meta = params.get("_meta")
        meta = dict(meta) if isinstance(meta, dict) else {}
        if self.tracing() and trace.get_current_span().get_span_context().is_valid:  # a span to continue
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
                task,
            )
        except UpstreamRefusedError as exc:
            record.outcome = "refused"
            raise _refusal(exc) from None
        except ToolCallError as exc:
            record.outcome = "failed"
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        if task is not None and self.tasks is not None and "task" in result:  # else it ignored the task
            upstream_id = row["doc"]["source"]["upstream_id"]
            return self.tasks.created(self._owner(ctx), upstream_id, row["doc"]["name"], result)
        if result.get("resultType") == "input_required":
            if ctx.era == "modern":
                return result
            text = "the upstream needs input (sampling, elicitation or roots) this client did not declare"
            result = {"content": [{"type": "text", "text": text}], "isError": True}
        result.pop("resultType", None)
        return result

    async def task_request(self, ctx: McpContext, method: str, params: dict[str, Any]) -> bytes:
        """``tasks/get``, ``tasks/result`` or ``tasks/cancel``: to the upstream the task id names, if the task is
        this caller's and its tool still on this endpoint; the answer names the task by the gateway's id."""
        given = params["taskId"]
        opened = self.tasks.open(self._owner(ctx), given) if self.tasks is not None else None
        row = ctx.snapshot.tools.get(opened.tool) if opened is not None else None
        source = row["doc"].get("source") if row is not None else None
        if opened is None or not source or source.get("upstream_id") != opened.upstream_id:
            raise RpcError(INVALID_PARAMS, "Failed to retrieve task: Task not found")
        assert row is not None
        if method == "tasks/get":  # polling: not a call of its own in the logs and metrics
            result = await self._to_task(ctx, method, opened.upstream_id, opened.task_id, None)
        else:  # a task's result and its cancellation are logged and counted like the call that made it
            with self.observer.observe(ctx, method, opened.tool, row) as record:
                result = await self._to_task(ctx, method, opened.upstream_id, opened.task_id, record)
        if method == "tasks/result":
            meta = result.get("_meta")
            result = {**result, "_meta": {**(meta if isinstance(meta, dict) else {}), RELATED_TASK: {"taskId": given}}}
        else:
            result = {**result, "taskId": given}
        return _encode(result)

    async def _to_task(
        self, ctx: McpContext, method: str, upstream_id: str, task_id: str, record: Any
    ) -> dict[str, Any]:
        try:
            return await self.forwarder.task_request(
                ctx.snapshot.tenant_id, upstream_id, method, {"taskId": task_id}, _client(ctx), ctx.session
            )
        except UpstreamRefusedError as exc:  # the task's own error (tasks/result), or the upstream's refusal
            if record is not None:
                record.outcome = "refused"
            raise _refusal(exc) from None
        except ToolCallError as exc:
            if record is not None:
                record.outcome = "failed"
            raise RpcError(INTERNAL_ERROR, str(exc)) from None

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

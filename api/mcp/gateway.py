"""The streamable HTTP rules of both protocol eras, independent of the web framework.

``handle_post`` takes the request's parts and returns a ``Reply`` (status, headers, body) or a
``StreamReply`` for ``subscriptions/listen``. The era of a request: ``initialize`` or an
``Mcp-Session-Id`` header means legacy; a ``_meta`` protocol version or a modern
``MCP-Protocol-Version`` header means modern (2026-07-28, stateless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry import propagate, trace

from ledgergate.api.json_limits import BadJson, decode_json
from ledgergate.api.mcp.admission import (
    OVER_LIMIT,
    UNAVAILABLE,
    TokenSlots,
    over_limit_reply,
    quota_reply,
    unavailable_reply,
)
from ledgergate.api.mcp.cancellation import CancelledByClientError, InFlight
from ledgergate.api.mcp.client_requests import ClientRequests, askable_capabilities
from ledgergate.api.mcp.methods import McpContext, McpMethods, log_level
from ledgergate.api.mcp.modern_rules import (
    META_CAPABILITIES,
    META_VERSION,
    header_mismatch,
    listen_reply,
    param_mismatch,
)
from ledgergate.api.mcp.params import check_initialize, check_modern_meta, check_params
from ledgergate.api.mcp.protocol import (
    ALL_VERSIONS,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MODERN_VERSIONS,
    PARSE_ERROR,
    UNSUPPORTED_VERSION,
    RpcError,
    envelope_problem,
    error_status,
    is_request_id,
    notification_body,
    result_body,
)
from ledgergate.api.mcp.replies import EventsReply, Reply, StreamReply, error_reply
from ledgergate.api.metrics import McpMetrics
from ledgergate.api.observability.spans import request_span
from ledgergate.application.sessions import McpSession, SessionQuotaError, SessionStore, SessionStoreUnavailableError
from ledgergate.projections.hot_catalog import HotCatalogs, Snapshot

__all__ = ["EventsReply", "McpGateway", "Reply", "StreamReply"]

log = logging.getLogger("ledgergate.mcp")
tracer = trace.get_tracer("ledgergate.mcp")

KNOWN_METHODS = frozenset(
    {
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "ping",
        "logging/setLevel",
        "tasks/get",
        "tasks/result",
        "tasks/cancel",
        "tasks/list",
    }
)
#: requests that may go upstream (tasks/result waits there for the task to end)
CANCELLABLE = frozenset(
    {"tools/call", "prompts/get", "resources/read", "completion/complete", "tasks/get", "tasks/result", "tasks/cancel"}
)
#: the answer to a request its client cancelled (the code LSP uses; MCP defines none)
REQUEST_CANCELLED = -32800
REMOVED_IN_MODERN = ("initialize", "ping", "logging/setLevel", "notifications/initialized")


def _invalid(message: Any, problem: str, status: int = 400) -> Reply:
    """-32600 for a message that is not JSON-RPC; its id is echoed only if it is a usable one."""
    request_id = message.get("id") if isinstance(message, dict) else None
    echoed = request_id if is_request_id(request_id) else None
    return error_reply(echoed, INVALID_REQUEST, f"Invalid Request: {problem}", status)


def _refused(ctx: McpContext, request_id: Any, exc: RpcError) -> Reply:
    status = exc.http_status if exc.http_status is not None else error_status(ctx.era, exc.code)
    return error_reply(request_id, exc.code, exc.message, status, exc.data)


def owns(session: McpSession, snapshot: Snapshot, token_id: str) -> bool:
    """A session serves only the token that began it, on the endpoint where it began."""
    return (session.tenant_id, session.server_id, session.token_id) == (
        snapshot.tenant_id,
        snapshot.server_id,
        token_id,
    )


class McpGateway:
    def __init__(
        self,
        hot: HotCatalogs,
        sessions: SessionStore,
        methods: McpMethods,
        metrics: McpMetrics,
        client_requests: ClientRequests,
        inflight: InFlight,
        calls: TokenSlots | None = None,
    ) -> None:
        self.hot = hot
        self.sessions = sessions
        self.methods = methods
        self.metrics = metrics
        self.client_requests = client_requests
        self.inflight = inflight
        #: tools/call in flight per token in this process
        self.calls = calls or TokenSlots(0, "tool calls in flight")
        # Without an OpenTelemetry SDK every span is a no-op; skipping them saves ~40 us a request.
        self.tracing = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)

    async def handle_post(
        self,
        body: bytes,
        headers: dict[str, str],
        tenant_id: str,
        server_id: str | None,
        token_id: str,
        sse_session: str | None = None,
    ) -> Reply | StreamReply | EventsReply:
        """``sse_session``: the session id a legacy HTTP+SSE stream already assigned (its POSTs carry it).

        The body is read only once the endpoint and an HTTP+SSE session are known, and through the one
        decoder of untrusted JSON: invalid UTF-8 and nesting past its depth limit are parse errors."""
        snapshot = self.hot.get(tenant_id, server_id)
        if snapshot is None:
            return error_reply(None, INVALID_REQUEST, "no such virtual server in this tenant", 404)
        if sse_session is not None:
            known = await self._session(headers, sse_session, snapshot, token_id)
            if isinstance(known, Reply):
                return known
        try:
            message = decode_json(body)
        except BadJson as exc:
            return error_reply(None, PARSE_ERROR, f"Parse error: {exc}", 400)
        session_id = sse_session or headers.get("mcp-session-id")
        if isinstance(message, list):
            return await self._batch(message, headers, snapshot, session_id, token_id)
        problem = envelope_problem(message)
        if problem is not None:
            return _invalid(message, problem)
        if sse_session is None and self._is_modern(message, headers, session_id):
            return await self._modern(message, headers, snapshot, token_id)
        return await self._legacy(message, headers, snapshot, session_id, token_id, sse_session)

    def _trace_context(self, headers: dict[str, str]) -> Any:
        return propagate.extract(headers) if self.tracing else None

    @staticmethod
    def _is_modern(message: dict[str, Any], headers: dict[str, str], session_id: str | None) -> bool:
        """``initialize`` is modern only with a ``_meta`` protocol version (it is then a removed method)."""
        if session_id is not None:
            return False
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict) and META_VERSION in meta:
            return True
        return message.get("method") != "initialize" and headers.get("mcp-protocol-version") in MODERN_VERSIONS

    # -- legacy ------------------------------------------------------------------------------------

    async def _session(
        self, headers: dict[str, str], session_id: str | None, snapshot: Snapshot, token_id: str
    ) -> McpSession | Reply:
        if session_id is None:
            return error_reply(None, INVALID_REQUEST, "Bad Request: Missing session ID", 400)
        try:
            session = await self.sessions.use(session_id, snapshot.tenant_id, token_id)
        except SessionStoreUnavailableError as exc:
            return unavailable_reply(None, exc)
        if session is None or not owns(session, snapshot, token_id):
            return error_reply(None, INVALID_REQUEST, "Session not found", 404)
        version = headers.get("mcp-protocol-version")
        if version is not None and version not in ALL_VERSIONS:
            return error_reply(None, INVALID_REQUEST, f"Bad Request: unsupported MCP-Protocol-Version {version!r}", 400)
        return session

    async def _legacy(
        self,
        message: dict[str, Any],
        headers: dict[str, str],
        snapshot: Snapshot,
        session_id: str | None,
        token_id: str,
        sse_session: str | None = None,
    ) -> Reply | EventsReply:
        if message.get("method") == "initialize":
            if "id" not in message:
                return _invalid(message, "initialize is a request: it needs an id")
            try:
                check_initialize(message.get("params"))
            except RpcError as exc:
                return error_reply(message["id"], exc.code, exc.message, 400)
            return await self._initialize(message, snapshot, token_id, sse_session)
        session = await self._session(headers, session_id, snapshot, token_id)
        if isinstance(session, Reply):
            return session
        reply = await self._one(
            message,
            McpContext("legacy", snapshot, session, trace_context=self._trace_context(headers), token_id=token_id),
        )
        if message.get("method") == "notifications/initialized" and not session.initialized:
            session.initialized = True
            try:
                await self.sessions.change(session.id, _initialized)
            except SessionStoreUnavailableError as exc:
                return unavailable_reply(None, exc)
        return reply

    async def _initialize(
        self, message: dict[str, Any], snapshot: Snapshot, token_id: str, fixed_id: str | None = None
    ) -> Reply:
        request_id = message.get("id")
        params = message.get("params")
        if not isinstance(params, dict) or request_id is None:
            return error_reply(request_id, INVALID_PARAMS, "initialize needs params and an id", 400)
        version = self.methods.negotiate(params.get("protocolVersion"))
        try:
            return await self._open_session(request_id, params, version, snapshot, token_id, fixed_id)
        except SessionStoreUnavailableError as exc:
            return unavailable_reply(request_id, exc)
        except SessionQuotaError as exc:
            return quota_reply(request_id, exc)

    async def _open_session(
        self,
        request_id: Any,
        params: dict[str, Any],
        version: str,
        snapshot: Snapshot,
        token_id: str,
        fixed_id: str | None,
    ) -> Reply:
        """Raises: SessionStoreUnavailableError, SessionQuotaError (the token's own least recently used
        session makes room when the token is at its quota; a tenant at its quota gets none)."""
        if fixed_id is not None:  # an HTTP+SSE stream: only its own opener may initialize it
            opened = await self.sessions.use(fixed_id, snapshot.tenant_id, token_id)
            if opened is None or not owns(opened, snapshot, token_id):
                return error_reply(None, INVALID_REQUEST, "Session not found", 404)
        session = McpSession(
            id=fixed_id or secrets.token_hex(16),
            tenant_id=snapshot.tenant_id,
            server_id=snapshot.server_id,
            token_id=token_id,
            protocol_version=version,
            client_capabilities=params.get("capabilities") or {},
            client_info=params.get("clientInfo") or {},
            created_at=time.time(),
        )
        if fixed_id is None:
            await self.sessions.open(session)
        else:  # the stream opened it, within the quotas
            await self.sessions.put(session)
        return Reply(
            200,
            result_body(
                request_id, self.methods.initialize_result(version, self.methods.passes_tasks(snapshot, version))
            ),
            {"Mcp-Session-Id": session.id},
        )

    async def _batch(
        self, messages: list[Any], headers: dict[str, str], snapshot: Snapshot, session_id: str | None, token_id: str
    ) -> Reply:
        session = await self._session(headers, session_id, snapshot, token_id)
        if isinstance(session, Reply):
            return session
        if session.protocol_version != "2025-03-26":
            return error_reply(
                None, INVALID_REQUEST, "Invalid Request: batches are only accepted in 2025-03-26 sessions", 400
            )
        if not messages:
            return error_reply(None, INVALID_REQUEST, "Invalid Request: empty batch", 400)
        ctx = McpContext("legacy", snapshot, session, trace_context=self._trace_context(headers), token_id=token_id)
        replies = [
            _invalid(m, problem) if (problem := envelope_problem(m)) is not None else await self._one(m, ctx, False)
            for m in messages
        ]
        bodies = [r.body for r in replies if isinstance(r, Reply) and r.body]  # no streams in a batch
        return Reply(200, b"[" + b",".join(bodies) + b"]") if bodies else Reply(202, media_type="text/plain")

    async def _one(self, message: dict[str, Any], ctx: McpContext, stream: bool = True) -> Reply | EventsReply:
        """A message whose envelope is valid JSON-RPC (``envelope_problem`` found nothing wrong)."""
        if "method" not in message:  # a response or error from the client: to the call that asked for it, if any
            if ctx.session is not None:
                await self.client_requests.answer(ctx.session.id, message)
            return Reply(202, media_type="text/plain")
        method = message["method"]
        params = message.get("params")
        if "id" not in message:  # notifications are never answered
            if (
                method == "notifications/cancelled"
                and ctx.session is not None
                and isinstance(params, dict)
                and is_request_id(params.get("requestId"))
            ):
                await self.inflight.cancel(ctx.session.id, params["requestId"])
            return Reply(202, media_type="text/plain")
        request_id = message["id"]
        if method == "initialize":  # reaches here only inside a batch
            return _invalid(message, "initialize must be sent alone")
        try:
            params = check_params(ctx.era, method, params)
        except RpcError as exc:
            return _refused(ctx, request_id, exc)
        if method == "logging/setLevel" and ctx.session is not None:
            try:
                await self._set_level(ctx.session, params["level"])
            except SessionStoreUnavailableError as exc:
                return unavailable_reply(request_id, exc)
        row = ctx.snapshot.tools.get(params["name"]) if method == "tools/call" else None
        if method == "prompts/get":
            row = ctx.snapshot.prompts.get(params["name"])
        if not stream or row is None:  # an unknown tool is refused at once, with its error's HTTP status
            return await self._execute(request_id, method, params, ctx)
        token = (params.get("_meta") or {}).get("progressToken") if method == "tools/call" else None
        if token is not None:
            return EventsReply(self._streamed(request_id, method, params, ctx, token))
        asks = ctx.session is not None and askable_capabilities(ctx.session.client_capabilities)
        # an upstream's tool or prompt may ask the client or log: its stream carries both
        if (asks or log_level(ctx) is not None) and row["doc"].get("source"):
            return EventsReply(self._streamed(request_id, method, params, ctx, None))
        return await self._execute(request_id, method, params, ctx)

    async def _set_level(self, session: McpSession, level: Any) -> None:
        """``logging/setLevel`` is the session's: log messages of its upstream calls are relayed at or above it.

        Raises: SessionStoreUnavailableError."""
        if session.log_level != level:
            session.log_level = level
            await self.sessions.change(session.id, lambda stored: setattr(stored, "log_level", level))

    async def _streamed(
        self, request_id: Any, method: str, params: dict[str, Any], ctx: McpContext, token: str | int | None
    ) -> AsyncIterator[bytes]:
        """The call's progress notifications and requests to the client as they come, then its response.
        A client that goes away cancels the call, and with it the upstream request."""
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        async def report(progress: float, total: float | None, message: str | None) -> None:
            note: dict[str, Any] = {"progressToken": token, "progress": progress}
            note |= {"total": total} if total is not None else {}
            note |= {"message": message} if message else {}
            queue.put_nowait(notification_body("notifications/progress", note))

        if token is not None:
            ctx.progress = report

        async def notify(method: str, params: dict[str, Any]) -> None:
            queue.put_nowait(notification_body(method, params))

        ctx.notify = notify
        askable = askable_capabilities(ctx.session.client_capabilities) if ctx.session is not None else {}
        if ctx.session is not None and askable:
            ctx.ask = self.client_requests.asker(ctx.session.id, askable, queue.put_nowait)
        call = asyncio.create_task(self._execute(request_id, method, params, ctx))
        try:
            while True:
                waiting = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({call, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if waiting in done:
                    yield waiting.result()
                    continue
                waiting.cancel()
                while not queue.empty():
                    yield queue.get_nowait()
                yield call.result().body
                return
        finally:
            if not call.done():
                call.cancel()

    async def _execute(self, request_id: Any, method: str, params: dict[str, Any], ctx: McpContext) -> Reply:
        label = method if method in KNOWN_METHODS else "other"
        span = request_span(ctx, method, label, request_id, params) if self.tracing else contextlib.nullcontext()
        tenant, server = ctx.snapshot.tenant_id, ctx.snapshot.server_id
        slot = None
        if method == "tools/call":
            slot = self.calls.take(ctx.token_id)
            if slot is None:
                self.metrics.error(label, OVER_LIMIT, tenant, server)
                return over_limit_reply(request_id, self.calls)
        with self.metrics.request(label, tenant, server), span:
            try:
                if ctx.session is not None and method in CANCELLABLE:  # may go upstream: the client may cancel it
                    session_id = ctx.session.id
                    result = await self.inflight.run(
                        session_id, request_id, lambda: self.methods.dispatch(ctx, method, params)
                    )
                else:
                    result = await self.methods.dispatch(ctx, method, params)
                return Reply(200, result_body(request_id, result))
            except CancelledByClientError:
                return error_reply(request_id, REQUEST_CANCELLED, "Request cancelled by the client")
            except SessionStoreUnavailableError as exc:  # the call needed its session's record
                self.metrics.error(label, UNAVAILABLE, tenant, server)
                return unavailable_reply(request_id, exc)
            except RpcError as exc:
                self.metrics.error(label, exc.code, tenant, server)
                return _refused(ctx, request_id, exc)
            except Exception:
                log.exception("MCP method %s failed", method)
                self.metrics.error(label, INTERNAL_ERROR, tenant, server)
                return error_reply(request_id, INTERNAL_ERROR, "Internal error")
            finally:
                if slot is not None:
                    slot.release()

    # -- modern ------------------------------------------------------------------------------------

    async def _modern(
        self, message: dict[str, Any], headers: dict[str, str], snapshot: Snapshot, token_id: str
    ) -> Reply | StreamReply | EventsReply:
        if "method" not in message:
            return _invalid(message, "a 2026-07-28 client sends requests and notifications, never responses")
        request_id = message.get("id")
        method = message["method"]
        given = message.get("params")
        params: dict[str, Any] = given if isinstance(given, dict) else {}
        meta: dict[str, Any] = params["_meta"] if isinstance(params.get("_meta"), dict) else {}
        version = meta.get(META_VERSION)
        if version is None or not isinstance(meta.get(META_CAPABILITIES), dict):
            return error_reply(
                request_id, INVALID_PARAMS, f"_meta must carry {META_VERSION} and {META_CAPABILITIES}", 400
            )
        mismatch = header_mismatch(message, headers, version)
        if not mismatch and method == "tools/call" and (tool := snapshot.tools.get(str(params.get("name")))):
            mismatch = param_mismatch(tool["doc"].get("input_schema"), params.get("arguments"), headers)
        if mismatch:
            return error_reply(request_id, HEADER_MISMATCH, mismatch, 400)
        if version not in MODERN_VERSIONS:
            return error_reply(
                request_id,
                UNSUPPORTED_VERSION,
                f"Unsupported protocol version {version}",
                400,
                {"supported": list(MODERN_VERSIONS), "requested": version},
            )
        try:
            check_modern_meta(meta)
        except RpcError as exc:
            return error_reply(request_id, exc.code, exc.message, 400)
        if "id" not in message:
            return Reply(202, media_type="text/plain")
        if method in REMOVED_IN_MODERN:
            return error_reply(request_id, METHOD_NOT_FOUND, f"Method not found: {method}", 404)
        if method == "server/discover":
            return Reply(200, result_body(request_id, self.methods.discover_result(self.hot.ttl_ms)))
        if method == "subscriptions/listen":
            try:
                check_params("modern", method, params)
            except RpcError as exc:
                return error_reply(request_id, exc.code, exc.message, 400)
            return listen_reply(request_id, params, snapshot)
        return await self._one(
            message, McpContext("modern", snapshot, None, meta, self._trace_context(headers), token_id=token_id)
        )


def _initialized(session: McpSession) -> None:
    session.initialized = True

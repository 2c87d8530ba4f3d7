"""Requests to streamable-HTTP upstreams as single keep-alive POSTs, without the SDK client.

The SDK client costs about 3 ms of CPU per call (see bench/upstreams.py); calls, reads and prompt
gets to HTTP upstreams go through here instead: the body is encoded once with msgspec, sent over a
pooled aiohttp connection, and the upstream's result is passed back as it came. Discovery, health
probes, watches and stdio/SSE upstreams keep using the SDK (``mcp_client.py``). Every connection,
redirect hops included, goes through the outbound policy at connect time (``GuardedConnector``).

A :class:`Channel` is what a later request needs from negotiation: the protocol version and, for a
legacy upstream that keeps sessions, its session id. It is small and plain, so a downstream session
record can carry it and any worker can continue the upstream session.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from ledgergate.application.ports import (
    Channel,
    Notification,
    Progress,
    ServerRequest,
    SessionExpiredError,
    UnauthorizedError,
    UpstreamRpcError,
    UpstreamTransportError,
)
from ledgergate.domain.mcp_headers import header_value
from ledgergate.infrastructure.network.clients import GuardedConnector, blocked_cause
from ledgergate.infrastructure.network.egress import EgressGuard
from ledgergate.infrastructure.telemetry import outgoing, record_upstream_status

__all__ = [
    "LEGACY",
    "MODERN",
    "Channel",
    "HttpUpstreamClient",
    "SessionExpiredError",
    "UnauthorizedError",
    "UpstreamRpcError",
    "UpstreamTransportError",
    "header_value",
]

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
CLIENT_INFO = {"name": "ledgergate", "version": "0.1.0"}
PROTOCOL_META = "io.modelcontextprotocol/"
ACCEPT = "application/json, text/event-stream"
NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
#: keys of a result's ``_meta`` that are the client's business, kept (the others of the prefix are the hop's)
KEPT_META = frozenset({PROTOCOL_META + "model-immediate-response"})


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """Lines of a body of any size (``StreamReader.readline`` refuses long lines, and results can be large)."""
    pending = b""
    async for chunk in response.content.iter_any():
        parts = (pending + chunk).split(b"\n")
        pending = parts.pop()
        for part in parts:
            yield part.rstrip(b"\r")
    if pending:
        yield pending.rstrip(b"\r")


async def _messages(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """JSON-RPC messages of an SSE body (events with no or empty data, such as priming events, are skipped)."""
    data: list[bytes] = []
    async for line in _lines(response):
        if not line:
            joined, data = b"\n".join(data), []
            if joined.strip():  # a priming event's data is empty
                message = msgspec.json.decode(joined)
                if isinstance(message, dict):
                    yield message
        elif line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
    joined = b"\n".join(data)
    if joined.strip():
        message = msgspec.json.decode(joined)
        if isinstance(message, dict):
            yield message


def _span_of(
    url: str, channel: Channel, method: str, params: dict[str, Any], request_id: int
) -> tuple[str, dict[str, Any]]:
    """The name and attributes of the CLIENT span of one request (OpenTelemetry MCP conventions)."""
    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        "mcp.method.name": method,
        "mcp.protocol.version": channel.version,
        "jsonrpc.request.id": str(request_id),
        "network.transport": "tcp",
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
    }
    target = params.get(NAMED_METHODS.get(method, ""))
    if method == "tools/call" and isinstance(target, str):
        attributes |= {"gen_ai.tool.name": target, "gen_ai.operation.name": "execute_tool"}
    elif method == "prompts/get" and isinstance(target, str):
        attributes["gen_ai.prompt.name"] = target
    elif method == "resources/read" and isinstance(target, str):
        attributes["mcp.resource.uri"] = target
    named = method in ("tools/call", "prompts/get") and isinstance(target, str)
    return (f"{method} {target}" if named else method), attributes


class HttpUpstreamClient:
    """One per process: a pool of keep-alive connections shared by every HTTP upstream."""

    def __init__(self, max_connections: int = 512, egress: EgressGuard | None = None) -> None:
        self.max_connections = max_connections
        self.egress = egress or EgressGuard.default()
        self._http: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            connector = GuardedConnector(self.egress, limit=self.max_connections, limit_per_host=0, ttl_dns_cache=300)
            self._http = aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False)
        return self._http

    @staticmethod
    def _headers(
        base: Mapping[str, str], channel: Channel | None, method: str, params: dict[str, Any]
    ) -> dict[str, str]:
        headers = {**base, "Content-Type": "application/json", "Accept": ACCEPT}
        if channel is None:
            return headers
        headers["MCP-Protocol-Version"] = channel.version
        if channel.session_id:
            headers["Mcp-Session-Id"] = channel.session_id
        if channel.modern:
            headers["Mcp-Method"] = method
            field = NAMED_METHODS.get(method)
            if field and isinstance(params.get(field), str):
                headers["Mcp-Name"] = header_value(params[field])
        return headers

    async def _exchange(
        self,
        url: str,
        headers: dict[str, str],
        message: dict[str, Any],
        progress: Progress | None = None,
        on_request: ServerRequest | None = None,
        answer: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        notify: Notification | None = None,
    ) -> tuple[int, dict[str, Any] | None, Mapping[str, str]]:
        """POST one message; answers (status, the response message or None, response headers).

        Raises: UpstreamTransportError."""
        request_id = message.get("id")
        try:
            async with self._session().post(url, data=msgspec.json.encode(message), headers=headers) as response:
                kind = response.content_type
                if kind == "text/event-stream" and response.status == 200:
                    async for incoming in _messages(response):
                        if incoming.get("id") == request_id and ("result" in incoming or "error" in incoming):
                            return response.status, incoming, response.headers
                        method = incoming.get("method")
                        if method == "notifications/progress" and progress is not None:
                            note = incoming.get("params") or {}
                            await progress(note.get("progress", 0), note.get("total"), note.get("message"))
                        elif method and "id" in incoming and answer is not None:
                            refused = {"error": {"code": -32601, "message": f"{method} is not available here"}}
                            reply = await on_request(incoming) if on_request else refused
                            await answer({"jsonrpc": "2.0", "id": incoming["id"], **reply})
                        elif isinstance(method, str) and method.startswith("notifications/") and notify is not None:
                            await notify(incoming)
                    raise UpstreamTransportError("the upstream's event stream ended without a response")
                body = await response.read()
                if kind == "application/json" and body:
                    decoded = msgspec.json.decode(body)
                    return response.status, decoded if isinstance(decoded, dict) else None, response.headers
                return response.status, None, response.headers
        except (aiohttp.ClientError, OSError, msgspec.DecodeError) as exc:
            blocked = blocked_cause(exc)
            if blocked is not None:
                raise UpstreamTransportError(str(blocked)) from None
            raise UpstreamTransportError(f"{exc.__class__.__name__}: {exc}") from None

    async def negotiate(
        self, url: str, auth: Mapping[str, str], prefer_modern: bool = True, capabilities: dict[str, Any] | None = None
    ) -> Channel:
        """Modern if the upstream answers ``server/discover`` for 2026-07-28; otherwise a legacy session,
        initialized with ``capabilities`` (a modern upstream is told the capabilities on each request).

        Raises: UpstreamTransportError, UnauthorizedError."""
        if not prefer_modern:
            return await self._initialize(url, auth, capabilities)
        meta = {
            PROTOCOL_META + "protocolVersion": MODERN,
            PROTOCOL_META + "clientCapabilities": {},
            PROTOCOL_META + "clientInfo": CLIENT_INFO,
        }
        discover = {"jsonrpc": "2.0", "id": next(self._ids), "method": "server/discover", "params": {"_meta": meta}}
        modern = Channel(version=MODERN)
        status, reply, _ = await self._exchange(url, self._headers(auth, modern, "server/discover", {}), discover)
        if status == 401:
            raise UnauthorizedError
        result = (reply or {}).get("result")
        if status == 200 and isinstance(result, dict) and MODERN in (result.get("supportedVersions") or ()):
            return modern
        return await self._initialize(url, auth, capabilities)

    async def _initialize(self, url: str, auth: Mapping[str, str], capabilities: dict[str, Any] | None) -> Channel:
        initialize = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": capabilities or {}, "clientInfo": CLIENT_INFO},
        }
        status, reply, headers = await self._exchange(url, self._headers(auth, None, "initialize", {}), initialize)
        if status == 401:
            raise UnauthorizedError
        result = (reply or {}).get("result")
        if status != 200 or not isinstance(result, dict) or not isinstance(result.get("protocolVersion"), str):
            raise UpstreamTransportError(f"initialize was answered with HTTP {status}: {reply!r}"[:300])
        channel = Channel(version=result["protocolVersion"], session_id=headers.get("mcp-session-id"))
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await self._exchange(url, self._headers(auth, channel, "notifications/initialized", {}), initialized)
        return channel

    async def request(
        self,
        url: str,
        auth: Mapping[str, str],
        channel: Channel,
        method: str,
        params: dict[str, Any],
        *,
        extra_headers: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        on_request: ServerRequest | None = None,
        capabilities: dict[str, Any] | None = None,
        log_level: str | None = None,
        notify: Notification | None = None,
    ) -> dict[str, Any]:
        """Send one request and answer its result as the upstream gave it.

        ``progress`` receives the upstream's progress notifications for this request; ``on_request``
        answers requests the upstream makes while it works (sampling, elicitation, roots), or they are
        refused; ``capabilities`` are the client capabilities declared to a modern upstream, which may
        then answer ``input_required``; ``log_level`` asks a modern upstream for log messages at that level
        (``io.modelcontextprotocol/logLevel``) and ``notify`` receives the notifications other than progress
        the upstream sends about the request. Cancelling the awaiting task ends the request upstream (a modern
        upstream sees the stream close; a legacy one also gets ``notifications/cancelled``).

        Raises: UpstreamTransportError, SessionExpiredError, UnauthorizedError, UpstreamRpcError."""
        request_id = next(self._ids)
        params = dict(params)
        meta = dict(params.get("_meta") or {})
        if channel.modern:
            meta[PROTOCOL_META + "protocolVersion"] = MODERN
            meta[PROTOCOL_META + "clientCapabilities"] = capabilities or {}
            meta[PROTOCOL_META + "clientInfo"] = CLIENT_INFO
            if log_level is not None:
                meta[PROTOCOL_META + "logLevel"] = log_level
        if progress is not None:
            meta["progressToken"] = request_id
        with outgoing(lambda: _span_of(url, channel, method, params, request_id)) as trace_context:
            meta.update(trace_context)  # the W3C context in _meta as well as in the headers (MCP conventions)
            if meta:
                params["_meta"] = meta
            headers = self._headers(auth, channel, method, params) | dict(extra_headers or {}) | trace_context
            return await self._request(
                url, auth, channel, headers, params, request_id, method, progress, on_request, notify
            )

    async def _request(
        self,
        url: str,
        auth: Mapping[str, str],
        channel: Channel,
        headers: dict[str, str],
        params: dict[str, Any],
        request_id: int,
        method: str,
        progress: Progress | None,
        on_request: ServerRequest | None,
        notify: Notification | None,
    ) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}

        async def answer(reply: dict[str, Any]) -> None:
            await self._exchange(url, self._headers(auth, channel, "", {}), reply)

        try:
            status, reply, _ = await self._exchange(url, headers, message, progress, on_request, answer, notify)
            record_upstream_status(status)
        except asyncio.CancelledError:
            if not channel.modern:
                cancel = {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": request_id, "reason": "the client cancelled the request"},
                }
                notify = self._exchange(url, self._headers(auth, channel, "notifications/cancelled", {}), cancel)
                task = asyncio.ensure_future(notify)
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise
        if status == 404 and channel.session_id:
            raise SessionExpiredError
        if status == 401:
            raise UnauthorizedError
        if reply is None:
            raise UpstreamTransportError(f"the upstream answered HTTP {status} without a JSON-RPC response")
        error = reply.get("error")
        if isinstance(error, dict):
            raise UpstreamRpcError(int(error.get("code") or 0), str(error.get("message") or ""), error.get("data"))
        result = reply.get("result")
        if not isinstance(result, dict):
            raise UpstreamTransportError("the upstream's response has no result object")
        own = result.get("_meta")
        if isinstance(own, dict) and any(k.startswith(PROTOCOL_META) and k not in KEPT_META for k in own):
            rest = {k: v for k, v in own.items() if not k.startswith(PROTOCOL_META) or k in KEPT_META}
            result = {k: v for k, v in result.items() if k != "_meta"} | ({"_meta": rest} if rest else {})
        return result

    async def end_session(self, url: str, auth: Mapping[str, str], channel: Channel) -> None:
        """DELETE a legacy upstream session (best effort)."""
        if not channel.session_id:
            return
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
            async with asyncio.timeout(5):
                headers = {**auth, "Mcp-Session-Id": channel.session_id, "MCP-Protocol-Version": channel.version}
                async with self._session().delete(url, headers=headers) as response:
                    await response.read()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

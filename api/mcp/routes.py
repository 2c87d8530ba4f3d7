"""Litestar routes of the MCP endpoints: streamable HTTP, legacy HTTP+SSE, protected resource metadata."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.params import FromPath
from litestar.response import Stream

from api.mcp.auth import McpAuthError, McpCaller, McpTokenVerifier, protected_resource_metadata
from api.mcp.gateway import EventsReply, McpGateway, StreamReply
from api.mcp.notifications import NotificationHub, Subscriber
from api.mcp.protocol import INVALID_REQUEST, LATEST_LEGACY, error_body, notification_body
from api.mcp.resource_updates import LIVE_WAIT_S, ResourceUpdates, StreamSink
from api.mcp.sse_relay import SseRelay
from api.metrics import McpMetrics
from application.sessions import McpSession, SessionStore

__all__ = ["McpState", "mcp_routers"]

log = logging.getLogger("ledgergate.mcp")
KEEPALIVE_S = 15.0
ALL_KINDS = frozenset({"tools", "prompts", "resources"})
SSE = "text/event-stream"  # handler default, so Stream answers carry it; plain answers set their own type
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@dataclass
class McpState:
    gateway: McpGateway
    verifier: McpTokenVerifier
    hub: NotificationHub
    sessions: SessionStore
    metrics: McpMetrics
    allowed_origins: frozenset[str]
    relay: SseRelay
    updates: ResourceUpdates
    background: set[asyncio.Task[None]] = field(default_factory=set)


def _state(request: Request[Any, Any, Any]) -> McpState:
    return request.app.state.mcp  # type: ignore[no-any-return]


def _resource_path(server_id: str | None) -> str:
    return f"/servers/{server_id}/mcp" if server_id else "/mcp"


def _base_url(request: Request[Any, Any, Any]) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _problem(
    request: Request[Any, Any, Any], status: int, message: str, error: str | None, server_id: str | None
) -> Response[bytes]:
    metadata = f"{_base_url(request)}/.well-known/oauth-protected-resource{_resource_path(server_id)}"
    challenge = f'Bearer resource_metadata="{metadata}", scope="mcp"'
    if error:
        challenge += f', error="{error}", error_description="{message}"'
    return Response(
        content=error_body(None, INVALID_REQUEST, message),
        status_code=status,
        media_type="application/json",
        headers={"WWW-Authenticate": challenge} if status in (401, 403) else {},
    )


def _origin_ok(state: McpState, request: Request[Any, Any, Any]) -> bool:
    """No Origin (a non-browser client), an allow-listed one, or a loopback one when no list is set."""
    origin = request.headers.get("origin")
    if origin is None or origin in state.allowed_origins:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:  # not even a URL: certainly not an allowed origin
        return False
    return not state.allowed_origins and host in ("127.0.0.1", "localhost", "::1")


def _precheck(request: Request[Any, Any, Any], server_id: str | None) -> McpCaller | Response[bytes]:
    state = _state(request)
    if not _origin_ok(state, request):
        return Response(
            content=error_body(None, INVALID_REQUEST, "Forbidden: invalid Origin header"),
            status_code=403,
            media_type="application/json",
        )
    try:
        return state.verifier.authenticate(
            request.headers.get("authorization"), dict(request.query_params), None, server_id
        )
    except McpAuthError as exc:
        return _problem(request, exc.status, exc.message, exc.error, server_id)


def _accepts(request: Request[Any, Any, Any], *types: str) -> bool:
    accept = request.headers.get("accept", "")
    return "*/*" in accept or all(t in accept for t in types)


async def _post(request: Request[Any, Any, Any], server_id: str | None, sse_session: str | None = None) -> Any:
    caller = _precheck(request, server_id)
    if isinstance(caller, Response):
        return caller
    if sse_session is None and not _accepts(request, "application/json", "text/event-stream"):
        return Response(
            content=error_body(
                None, INVALID_REQUEST, "Not Acceptable: Accept must include application/json and text/event-stream"
            ),
            status_code=406,
            media_type="application/json",
        )
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return Response(
            content=error_body(None, INVALID_REQUEST, "Unsupported Media Type: send application/json"),
            status_code=415,
            media_type="application/json",
        )
    state = _state(request)
    body = await request.body()
    reply = await state.gateway.handle_post(
        body,
        {k.lower(): v for k, v in request.headers.items()},
        caller.claims.tenant_id,
        server_id,
        caller.claims.token_id,
        sse_session,
    )
    if isinstance(reply, StreamReply):
        return await _listen_stream(state, reply)
    if isinstance(reply, EventsReply):
        return _call_stream(state, reply, sse_session)
    if sse_session is not None:
        if reply.status >= 400 and not reply.correlated:  # no request to answer on the stream: refuse the POST
            return Response(content=reply.body, status_code=reply.status, media_type=reply.media_type)
        if reply.body and not await state.relay.deliver(sse_session, reply.body):
            return Response(
                content=error_body(None, INVALID_REQUEST, "Session not found"),
                status_code=404,
                media_type="application/json",
            )
        return Response(content=b"", status_code=202, media_type="text/plain")
    return Response(content=reply.body, status_code=reply.status, media_type=reply.media_type, headers=reply.headers)


def _call_stream(state: McpState, reply: EventsReply, sse_session: str | None) -> Any:
    """A call reporting progress: its messages as SSE on this response, or on the client's HTTP+SSE stream."""
    if sse_session is None:

        async def sse() -> AsyncIterator[bytes]:
            async for message in reply.messages:
                yield b"event: message\ndata: " + message + b"\n\n"

        return Stream(sse(), media_type="text/event-stream", headers=SSE_HEADERS)

    async def pump() -> None:
        async for message in reply.messages:
            await state.relay.deliver(sse_session, message)

    state.background.add(task := asyncio.create_task(pump()))
    task.add_done_callback(state.background.discard)
    return Response(content=b"", status_code=202, media_type="text/plain")


async def _events(queue: asyncio.Queue[bytes], first: list[bytes], event: str = "message") -> AsyncIterator[bytes]:
    for message in first:
        yield message
    while True:
        try:
            message = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        yield b"event: " + event.encode() + b"\ndata: " + message + b"\n\n"


def _subscribed_stream(
    state: McpState,
    subscriber: Subscriber,
    first: list[bytes],
    channel: str | None = None,
    ends_session: bool = True,
    on_close: Any = None,
) -> Stream:
    """``channel``: the session whose relayed messages this stream carries; the session ends with the
    stream if ``ends_session`` (HTTP+SSE). ``on_close``: called when the stream ends."""

    async def stream() -> AsyncIterator[bytes]:
        state.hub.subscribe(subscriber)
        if channel is not None:
            await state.relay.attach(channel, subscriber.queue)
        try:
            async for chunk in _events(subscriber.queue, first):
                yield chunk
        finally:
            state.hub.unsubscribe(subscriber)
            if on_close is not None:
                on_close()
            if channel is not None:
                await state.relay.detach(channel)
                if ends_session:
                    await state.sessions.delete(channel)

    return Stream(stream(), media_type="text/event-stream", headers=SSE_HEADERS)


async def _listen_stream(state: McpState, reply: StreamReply) -> Stream:
    meta = {"io.modelcontextprotocol/subscriptionId": reply.subscription_id}
    subscriber = Subscriber(
        reply.snapshot.tenant_id,
        reply.snapshot.server_id,
        reply.kinds,
        lambda method: notification_body(method, {"_meta": meta}),
        asyncio.get_running_loop(),
    )
    sink = StreamSink(subscriber.offer, reply.subscription_id)
    watches = [
        state.updates.add(reply.snapshot.tenant_id, row, sink) for row in reply.resources if row["doc"].get("source")
    ]
    # acknowledge once the upstream subscriptions are live, so a change made right after is not missed
    await asyncio.gather(*(watch.until_live(LIVE_WAIT_S) for watch in watches))

    def closed() -> None:
        sink.open = False
        state.updates.discard(sink)

    first = [b"event: message\ndata: " + reply.first + b"\n\n"]
    return _subscribed_stream(state, subscriber, first, on_close=closed)


async def _callers_session(
    request: Request[Any, Any, Any], state: McpState, caller: Any, server_id: str | None
) -> McpSession | Response[Any]:
    """The legacy session named by ``Mcp-Session-Id``, if it is this caller's on this endpoint."""
    session_id = request.headers.get("mcp-session-id")
    if session_id is None:
        return Response(
            content=error_body(None, INVALID_REQUEST, "Bad Request: Missing session ID"),
            status_code=400,
            media_type="application/json",
        )
    session = await state.sessions.get(session_id)
    if session is None or (session.tenant_id, session.server_id, session.token_id) != (
        caller.claims.tenant_id,
        server_id,
        caller.claims.token_id,
    ):
        return Response(
            content=error_body(None, INVALID_REQUEST, "Session not found"),
            status_code=404,
            media_type="application/json",
        )
    return session


async def _get(request: Request[Any, Any, Any], server_id: str | None) -> Any:
    caller = _precheck(request, server_id)
    if isinstance(caller, Response):
        return caller
    if not _accepts(request, "text/event-stream"):
        return Response(
            content=error_body(None, INVALID_REQUEST, "Not Acceptable: send Accept: text/event-stream"),
            status_code=406,
            media_type="application/json",
        )
    state = _state(request)
    session = await _callers_session(request, state, caller, server_id)
    if isinstance(session, Response):
        return session
    subscriber = Subscriber(session.tenant_id, server_id, ALL_KINDS, notification_body, asyncio.get_running_loop())
    # relayed messages for the session (resource updates) come out here, wherever they were produced
    return _subscribed_stream(state, subscriber, [b": stream open\n\n"], session.id, ends_session=False)


async def _delete(request: Request[Any, Any, Any], server_id: str | None) -> Any:
    caller = _precheck(request, server_id)
    if isinstance(caller, Response):
        return caller
    state = _state(request)
    session = await _callers_session(request, state, caller, server_id)
    if isinstance(session, Response):
        return session
    await state.sessions.delete(session.id)
    if session.upstreams:  # end the upstream sessions kept for this client, without delaying the answer
        task = asyncio.create_task(state.gateway.methods.forwarder.end_sessions(session))
        state.background.add(task)
        task.add_done_callback(state.background.discard)
    return Response(content=b"", status_code=200, media_type="text/plain")


async def _sse_open(request: Request[Any, Any, Any], server_id: str | None) -> Any:
    caller = _precheck(request, server_id)
    if isinstance(caller, Response):
        return caller
    state = _state(request)
    if state.gateway.hot.get(caller.claims.tenant_id, server_id) is None:
        return Response(
            content=error_body(None, INVALID_REQUEST, "no such virtual server in this tenant"),
            status_code=404,
            media_type="application/json",
        )
    channel = secrets.token_hex(16)
    # The stream's session exists from now on, bound to this token, so that only it can initialize it.
    await state.sessions.put(
        McpSession(
            id=channel,
            tenant_id=caller.claims.tenant_id,
            server_id=server_id,
            token_id=caller.claims.token_id,
            protocol_version=LATEST_LEGACY,
            created_at=time.time(),
        )
    )
    prefix = f"/servers/{server_id}" if server_id else ""
    endpoint = f"event: endpoint\ndata: {prefix}/message?session_id={channel}\n\n".encode()
    subscriber = Subscriber(
        caller.claims.tenant_id, server_id, ALL_KINDS, notification_body, asyncio.get_running_loop()
    )
    return _subscribed_stream(state, subscriber, [endpoint], channel=channel)


async def _sse_message(request: Request[Any, Any, Any], server_id: str | None) -> Any:
    session_id = request.query_params.get("session_id")
    if not session_id:
        return Response(
            content=error_body(None, INVALID_REQUEST, "session_id is required"),
            status_code=400,
            media_type="application/json",
        )
    return await _post(request, server_id, sse_session=session_id)


# Each route serves the tenant-wide catalog and, under /servers/{id}, one virtual server's.
ServerId = FromPath[str | None]


@post(["/mcp", "/servers/{server_id:str}/mcp"], status_code=200, include_in_schema=False, media_type=SSE)
async def mcp_post(request: Request[Any, Any, Any], server_id: ServerId = None) -> Any:
    return await _post(request, server_id)


@get(["/mcp", "/servers/{server_id:str}/mcp"], include_in_schema=False, media_type=SSE)
async def mcp_get(request: Request[Any, Any, Any], server_id: ServerId = None) -> Any:
    return await _get(request, server_id)


@delete(["/mcp", "/servers/{server_id:str}/mcp"], status_code=200, include_in_schema=False)
async def mcp_delete(request: Request[Any, Any, Any], server_id: ServerId = None) -> Any:
    return await _delete(request, server_id)


@get(["/sse", "/servers/{server_id:str}/sse"], include_in_schema=False, media_type=SSE)
async def sse_open(request: Request[Any, Any, Any], server_id: ServerId = None) -> Any:
    return await _sse_open(request, server_id)


@post(["/message", "/servers/{server_id:str}/message"], status_code=202, include_in_schema=False)
async def sse_message(request: Request[Any, Any, Any], server_id: ServerId = None) -> Any:
    return await _sse_message(request, server_id)


@get(["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"])
async def resource_metadata(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(protected_resource_metadata(_base_url(request), "/mcp")),
        media_type="application/json",
    )


@get("/.well-known/oauth-protected-resource/servers/{server_id:str}/mcp")
async def server_resource_metadata(request: Request[Any, Any, Any], server_id: FromPath[str]) -> Response[bytes]:
    body = protected_resource_metadata(_base_url(request), _resource_path(server_id))
    return Response(content=msgspec.json.encode(body), media_type="application/json")


def mcp_routers() -> list[Any]:
    return [
        Router(
            path="/",
            tags=["mcp"],
            route_handlers=[
                mcp_post,
                mcp_get,
                mcp_delete,
                sse_open,
                sse_message,
                resource_metadata,
                server_resource_metadata,
            ],
        )
    ]

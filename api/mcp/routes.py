"""Litestar routes of the MCP endpoints: streamable HTTP, legacy HTTP+SSE, protected resource metadata."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.params import FromPath

from ledgergate.api.mcp.admission import over_limit_reply, quota_reply, unavailable_reply
from ledgergate.api.mcp.auth import McpAuthError, McpCaller, protected_resource_metadata
from ledgergate.api.mcp.gateway import EventsReply, StreamReply
from ledgergate.api.mcp.notifications import Subscriber
from ledgergate.api.mcp.protocol import INVALID_REQUEST, LATEST_LEGACY, error_body, notification_body
from ledgergate.api.mcp.state import McpState
from ledgergate.api.mcp.streams import call_stream, listen_stream, response, subscribed_stream, toucher
from ledgergate.api.observability.context import note_caller
from ledgergate.api.openapi import problems
from ledgergate.api.schemas import (
    ProtectedResourceMetadata,
)  # what the well-known routes answer, for the OpenAPI document
from ledgergate.application.sessions import McpSession, SessionQuotaError, SessionStoreUnavailableError

__all__ = ["McpState", "mcp_routers"]

log = logging.getLogger("ledgergate.mcp")
ALL_KINDS = frozenset({"tools", "prompts", "resources"})
SSE = "text/event-stream"  # handler default, so Stream answers carry it; plain answers set their own type


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


async def _precheck(request: Request[Any, Any, Any], server_id: str | None) -> McpCaller | Response[bytes]:
    state = _state(request)
    if not _origin_ok(state, request):
        return Response(
            content=error_body(None, INVALID_REQUEST, "Forbidden: invalid Origin header"),
            status_code=403,
            media_type="application/json",
        )
    try:
        caller = await state.verifier.authenticate(
            request.headers.get("authorization"), dict(request.query_params), None, server_id
        )
    except McpAuthError as exc:
        return _problem(request, exc.status, exc.message, exc.error, server_id)
    note_caller(caller.claims.tenant_id, caller.claims.token_id)  # for the access log
    return caller


def _accepts(request: Request[Any, Any, Any], *types: str) -> bool:
    accept = request.headers.get("accept", "")
    return "*/*" in accept or all(t in accept for t in types)


async def _post(request: Request[Any, Any, Any], server_id: str | None, sse_session: str | None = None) -> Any:
    caller = await _precheck(request, server_id)
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
    if sse_session is not None and await _owned_session(state, sse_session, caller, server_id) is None:
        # someone else's stream (another token, tenant or endpoint): refused here, nothing reaches that stream
        return _session_not_found()
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
        return await listen_stream(state, reply, caller.claims.token_id)
    if isinstance(reply, EventsReply):
        return call_stream(state, reply, sse_session)
    if sse_session is not None and reply.status not in (429, 503):  # those answer the POST, with Retry-After
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
    try:
        session = await _owned_session(state, session_id, caller, server_id)
    except SessionStoreUnavailableError as exc:
        return response(unavailable_reply(None, exc))
    return session if session is not None else _session_not_found()


async def _owned_session(state: McpState, session_id: str, caller: Any, server_id: str | None) -> McpSession | None:
    """The session, if the caller's token began it on this endpoint; a session serves no one else.
    Raises: SessionStoreUnavailableError."""
    session = await state.sessions.use(session_id, caller.claims.tenant_id, caller.claims.token_id)
    if session is None or (session.tenant_id, session.server_id, session.token_id) != (
        caller.claims.tenant_id,
        server_id,
        caller.claims.token_id,
    ):
        return None
    return session


def _session_not_found() -> Response[bytes]:
    return Response(
        content=error_body(None, INVALID_REQUEST, "Session not found"), status_code=404, media_type="application/json"
    )


async def _get(request: Request[Any, Any, Any], server_id: str | None) -> Any:
    caller = await _precheck(request, server_id)
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
    slot = state.streams.take(caller.claims.token_id)
    if slot is None:
        return response(over_limit_reply(None, state.streams))
    subscriber = Subscriber(session.tenant_id, server_id, ALL_KINDS, notification_body, asyncio.get_running_loop())
    touch = toucher(state, session.id, session.tenant_id, session.token_id)
    # relayed messages for the session (resource updates) come out here, wherever they were produced
    return subscribed_stream(
        state, subscriber, [b": stream open\n\n"], session.id, ends_session=False, slot=slot, touch=touch
    )


async def _delete(request: Request[Any, Any, Any], server_id: str | None) -> Any:
    caller = await _precheck(request, server_id)
    if isinstance(caller, Response):
        return caller
    state = _state(request)
    session = await _callers_session(request, state, caller, server_id)
    if isinstance(session, Response):
        return session
    try:
        await state.sessions.delete(session.id)
    except SessionStoreUnavailableError as exc:
        return response(unavailable_reply(None, exc))
    if session.upstreams:  # end the upstream sessions kept for this client, without delaying the answer
        task = asyncio.create_task(state.gateway.methods.forwarder.end_sessions(session))
        state.background.add(task)
        task.add_done_callback(state.background.discard)
    return Response(content=b"", status_code=200, media_type="text/plain")


async def _sse_open(request: Request[Any, Any, Any], server_id: str | None) -> Any:
    caller = await _precheck(request, server_id)
    if isinstance(caller, Response):
        return caller
    state = _state(request)
    if state.gateway.hot.get(caller.claims.tenant_id, server_id) is None:
        return Response(
            content=error_body(None, INVALID_REQUEST, "no such virtual server in this tenant"),
            status_code=404,
            media_type="application/json",
        )
    slot = state.streams.take(caller.claims.token_id)
    if slot is None:
        return response(over_limit_reply(None, state.streams))
    channel = secrets.token_hex(16)
    # The stream's session exists from now on, bound to this token, so that only it can initialize it.
    session = McpSession(
        id=channel,
        tenant_id=caller.claims.tenant_id,
        server_id=server_id,
        token_id=caller.claims.token_id,
        protocol_version=LATEST_LEGACY,
        created_at=time.time(),
    )
    try:
        await state.sessions.open(session)
    except SessionQuotaError as exc:
        slot.release()
        return response(quota_reply(None, exc))
    except SessionStoreUnavailableError as exc:
        slot.release()
        return response(unavailable_reply(None, exc))
    prefix = f"/servers/{server_id}" if server_id else ""
    endpoint = f"event: endpoint\ndata: {prefix}/message?session_id={channel}\n\n".encode()
    subscriber = Subscriber(
        caller.claims.tenant_id, server_id, ALL_KINDS, notification_body, asyncio.get_running_loop()
    )
    touch = toucher(state, channel, session.tenant_id, session.token_id)
    return subscribed_stream(state, subscriber, [endpoint], channel=channel, slot=slot, touch=touch)


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
async def resource_metadata(request: Request[Any, Any, Any]) -> Response[ProtectedResourceMetadata]:
    return Response(
        content=msgspec.json.encode(
            protected_resource_metadata(
                _base_url(request), "/mcp", _state(request).verifier.tokens.authorization_servers
            )
        ),
        media_type="application/json",
    )


@get("/.well-known/oauth-protected-resource/servers/{server_id:str}/mcp", responses=problems(400))
async def server_resource_metadata(
    request: Request[Any, Any, Any], server_id: FromPath[str]
) -> Response[ProtectedResourceMetadata]:
    servers = _state(request).verifier.tokens.authorization_servers
    body = protected_resource_metadata(_base_url(request), _resource_path(server_id), servers)
    return Response(content=msgspec.json.encode(body), media_type="application/json")


def _store_unavailable(request: Request[Any, Any, Any], exc: SessionStoreUnavailableError) -> Response[bytes]:
    """What no handler caught (e.g. an HTTP+SSE answer that must cross workers while Redis is away)."""
    return response(unavailable_reply(None, exc))


def mcp_routers() -> list[Any]:
    return [
        Router(
            path="/",
            tags=["mcp"],
            exception_handlers={SessionStoreUnavailableError: _store_unavailable},
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

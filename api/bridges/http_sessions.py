"""``translate --stdio``, handshake era: one stdio server process per HTTP session, messages relayed as they are.

The SDK's ``StreamableHTTPServerTransport`` speaks HTTP (POST, the GET stream, DELETE, SSE, the
``Origin``/``Host`` checks, ``MCP-Protocol-Version``); this module only opens a session per ``initialize``,
starts the command for it, and pumps JSON-RPC messages between the two. A stdio server has one session per
process (its log level, its subscriptions, what its client declared), so each HTTP session gets its own.

stdio does not say which request a notification or a server-to-client request belongs to, and streamable
HTTP wants it on that request's stream; the relay decides as a client would expect: progress goes to the
request whose ``progressToken`` it names, log messages and requests to the client (sampling, elicitation,
roots) to the one request in flight when there is exactly one, everything else (list changes, resource
updates, anything while several requests are in flight) to the session's GET stream.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any
from uuid import uuid4

import anyio
from anyio.abc import TaskGroup, TaskStatus
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.jsonrpc_dispatcher import cancelled_request_id_from_params, progress_token_from_params
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp_types import (
    INVALID_REQUEST,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
)
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from ledgergate.api.bridges.processes import ProcessPool

__all__ = ["HandshakeSessions", "InFlight"]

logger = logging.getLogger(__name__)
IDLE_SECONDS = 30 * 60
REQUEST_SCOPED = {"notifications/message"}


class InFlight:
    """The client's requests the server has not answered yet, and the stream each server message belongs on."""

    def __init__(self) -> None:
        self._progress: dict[RequestId, Any] = {}

    def client_sent(self, message: JSONRPCMessage) -> None:
        if isinstance(message, JSONRPCRequest):
            self._progress[message.id] = progress_token_from_params(message.params)
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            self._progress.pop(cancelled_request_id_from_params(message.params), None)

    def related_request(self, message: JSONRPCMessage) -> RequestId | None:
        """The request ``message`` (from the server) belongs to; None for the session's GET stream."""
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            if message.id is not None:
                self._progress.pop(message.id, None)
            return None
        if message.method == "notifications/progress":
            token = (message.params or {}).get("progressToken")
            return next((rid for rid, known in self._progress.items() if known is not None and known == token), None)
        scoped = isinstance(message, JSONRPCRequest) or message.method in REQUEST_SCOPED
        if scoped and len(self._progress) == 1:
            return next(iter(self._progress))
        return None


class _Session:
    """An HTTP session's work for a pooled process: the process is the session's for as long as it lasts."""

    def __init__(self, transport: StreamableHTTPServerTransport, from_client: Any, to_client: Any, first: Any) -> None:
        self._transport = transport
        self._from_client = from_client
        self._to_client = to_client
        self._first = first
        self.over = anyio.Event()

    async def fail(self, reason: str) -> None:
        logger.error("session %s: %s", self._transport.mcp_session_id, reason)
        self.over.set()

    async def serve(self, from_child: Any, to_child: Any) -> bool:
        in_flight = InFlight()
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._child_to_client, from_child, in_flight, tasks.cancel_scope)
                item = self._first
                with suppress(anyio.EndOfStream, anyio.ClosedResourceError):
                    while True:
                        if not isinstance(item, Exception):
                            in_flight.client_sent(item.message)
                            await to_child.send(SessionMessage(item.message))
                        item = await self._from_client.receive()
                tasks.cancel_scope.cancel()
        finally:
            self.over.set()
        return False

    async def _child_to_client(self, from_child: Any, in_flight: InFlight, done: anyio.CancelScope) -> None:
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async for item in from_child:
                if isinstance(item, Exception):
                    logger.warning("the stdio server wrote an unreadable line: %s", item)
                    continue
                related = in_flight.related_request(item.message)
                metadata = ServerMessageMetadata(related_request_id=related)
                await self._to_client.send(SessionMessage(item.message, metadata=metadata))
        # The process ended, or the session did: either way both end.
        await self._transport.terminate()
        done.cancel()


class HandshakeSessions:
    """The HTTP sessions of ``translate --stdio``, each relayed to its own process."""

    def __init__(self, pool: ProcessPool, security: TransportSecuritySettings | None, tasks: TaskGroup) -> None:
        self._pool = pool
        self._security = security
        self._tasks = tasks
        self._sessions: dict[str, StreamableHTTPServerTransport] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = Request(scope).headers.get(MCP_SESSION_ID_HEADER)
        if session_id is not None:
            transport = self._sessions.get(session_id)
            if transport is None:
                body = {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": INVALID_REQUEST, "message": "Session not found"},
                }
                await JSONResponse(body, status_code=404)(scope, receive, send)
                return
            await transport.handle_request(scope, receive, send)
            if transport.is_terminated:
                self._sessions.pop(session_id, None)
            return
        await self._open(scope, receive, send)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = uuid4().hex
        transport = StreamableHTTPServerTransport(
            mcp_session_id=session_id, security_settings=self._security, idle_timeout=IDLE_SECONDS
        )
        self._sessions[session_id] = transport
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self._tasks.start(self._serve, session_id, transport)
            await transport.handle_request(scope, receive, watch)
        finally:
            if not status or status[0] >= 400:
                self._sessions.pop(session_id, None)
                await transport.terminate()

    async def _serve(
        self,
        session_id: str,
        transport: StreamableHTTPServerTransport,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            async with transport.connect() as (from_client, to_client):
                task_status.started()
                with transport.idle_scope or anyio.CancelScope():
                    try:
                        first = await from_client.receive()
                    except (anyio.EndOfStream, anyio.ClosedResourceError):
                        return
                    session = _Session(transport, from_client, to_client, first)
                    await self._pool.submit(session)
                    await session.over.wait()
        finally:
            self._sessions.pop(session_id, None)
            if not transport.is_terminated:
                with anyio.CancelScope(shield=True):
                    await transport.terminate()

"""Protocol bridges: ``ledgergate wrapper`` / ``translate --connect`` (stdio to streamable HTTP) and
``translate --stdio`` (streamable HTTP to a stdio server).

Both are transparent JSON-RPC relays: messages travel both ways as they are, so whatever the two ends
negotiate (capabilities, protocol era, logging, subscriptions, completions, progress, sampling and
elicitation, cancellation, ``input_required`` results) works through the bridge without the bridge
implementing it. The SDK's transports do the framing on each side; the bridges add only what the change
of transport requires (see each module).
"""

from __future__ import annotations

import shlex

import anyio
from mcp import StdioServerParameters
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
    TransportSecuritySettings,
)
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ledgergate.api.bridges.http_sessions import HandshakeSessions
from ledgergate.api.bridges.http_stateless import StatelessRelay
from ledgergate.api.bridges.processes import ProcessPool
from ledgergate.api.bridges.stdio_to_http import run_stdio_to_http

__all__ = ["run_http_to_stdio", "run_stdio_to_http", "stdio_command"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MCP_PATHS = ("/mcp", "/mcp/")


def stdio_command(command: str) -> StdioServerParameters:
    parts = shlex.split(command)
    return StdioServerParameters(command=parts[0], args=parts[1:])


def _security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection on loopback, as the SDK's own servers have it."""
    if host not in LOOPBACK:
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


class _Endpoint:
    """``/mcp``: a request naming a 2026-07-28 version goes to the stateless relay, the rest to the sessions."""

    def __init__(self, sessions: HandshakeSessions, stateless: StatelessRelay) -> None:
        self._sessions = sessions
        self._stateless = stateless

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] not in MCP_PATHS:
            await Response(status_code=404)(scope, receive, send)
            return
        version = Request(scope).headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            await self._stateless(scope, receive, send)
        else:
            await self._sessions(scope, receive, send)


async def run_http_to_stdio(command: str, host: str, port: int) -> None:
    """Serve the stdio MCP server ``command`` over streamable HTTP at ``http://host:port/mcp``."""
    import uvicorn

    params = stdio_command(command)
    security = _security(host)
    async with anyio.create_task_group() as tasks:
        for_sessions = ProcessPool(params, tasks, stateless=False)
        for_requests = ProcessPool(params, tasks, stateless=True)
        for_sessions.warm()
        for_requests.warm()
        endpoint = _Endpoint(HandshakeSessions(for_sessions, security, tasks), StatelessRelay(for_requests, security))
        app = RequestBodyLimitMiddleware(endpoint, DEFAULT_MAX_REQUEST_BODY_SIZE)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        await uvicorn.Server(config).serve()
        tasks.cancel_scope.cancel()

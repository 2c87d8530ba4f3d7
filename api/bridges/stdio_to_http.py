"""``ledgergate wrapper`` and ``translate --connect``: a stdio MCP server that relays to a streamable HTTP endpoint.

Every JSON-RPC message read on standard input is posted to the endpoint as it is, and every message the
endpoint sends (responses, notifications, requests to the client, on a request's stream or on the session's
GET stream) is written to standard output as it is: the client and the gateway negotiate with each other,
so the client sees the gateway's capabilities and the gateway sees the client's, and nothing (progress, log
messages, sampling and elicitation round trips, cancellation, resource updates) depends on the bridge
knowing about it. The SDK's streamable HTTP client transport does the HTTP side; this module only adds what
a relay must say on each POST and never learns from a session: the HTTP headers of the message's era
(``MCP-Protocol-Version`` after the handshake; ``Mcp-Method`` and ``Mcp-Name`` for a 2026-07-28 request,
which carries its version in ``_meta``; and for a 2026-07-28 ``tools/call`` the ``Mcp-Param-*`` headers of
the tool's ``x-mcp-header`` arguments, see ``api.bridges.tool_headers``).

A refused token or an endpoint that cannot be reached is said once on standard error and answers each
request with a JSON-RPC error; the process keeps serving, so a desktop client shows the error instead of a
dead server.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import httpx2
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import (
    INTERNAL_ERROR,
    PARSE_ERROR,
    PROTOCOL_VERSION_META_KEY,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCRequest,
    JSONRPCResponse,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from ledgergate.api.bridges.tool_headers import ToolHeaders

__all__ = ["EraHeaders", "GatewayTransport", "run_stdio_to_http"]

UNAUTHORIZED = {401, 403}


class GatewayTransport(httpx2.AsyncBaseTransport):
    """The HTTP transport toward the endpoint: turns an unreachable endpoint and a refused token into a JSON-RPC
    error body (which the SDK transport hands to the waiting request) and one line on standard error."""

    def __init__(self, url: str, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._url = url
        self._inner = inner or httpx2.AsyncHTTPTransport()
        self._said: set[str] = set()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except httpx2.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            return self._refuse(request, 502, f"cannot reach the gateway at {self._url}: {reason}")
        if response.status_code in UNAUTHORIZED:
            await response.aclose()
            problem = "refused the token" if response.status_code == 401 else "does not allow this token here"
            return self._refuse(
                request,
                response.status_code,
                f"the gateway at {self._url} {problem} (HTTP {response.status_code}); "
                "check --token or LEDGERGATE_TOKEN",
            )
        return response

    def _refuse(self, request: httpx2.Request, status: int, message: str) -> httpx2.Response:
        if message not in self._said:
            self._said.add(message)
            print(f"ledgergate: {message}", file=sys.stderr, flush=True)
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": INTERNAL_ERROR, "message": message}}
        return httpx2.Response(
            status, headers={"content-type": "application/json"}, content=json.dumps(body).encode(), request=request
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class EraHeaders:
    """The per-message HTTP headers a relayed message needs, from what has passed through so far."""

    def __init__(self) -> None:
        self.handshake_version: str | None = None
        self._initialize_ids: set[Any] = set()

    def for_client_message(self, message: JSONRPCMessage) -> dict[str, str] | None:
        if isinstance(message, JSONRPCRequest):
            params = message.params or {}
            meta = params.get("_meta")
            version = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
            if isinstance(version, str) and version not in HANDSHAKE_PROTOCOL_VERSIONS:
                headers = {MCP_PROTOCOL_VERSION_HEADER: version, MCP_METHOD_HEADER: message.method}
                name = params.get(NAME_BEARING_METHODS.get(message.method, ""))
                if isinstance(name, str):
                    headers[MCP_NAME_HEADER] = encode_header_value(name)
                return headers
            if message.method == "initialize":
                self._initialize_ids.add(message.id)
                return None
        if self.handshake_version is not None:
            return {MCP_PROTOCOL_VERSION_HEADER: self.handshake_version}
        return None

    def observe_server_message(self, message: JSONRPCMessage) -> None:
        if isinstance(message, JSONRPCResponse) and message.id in self._initialize_ids:
            self._initialize_ids.discard(message.id)
            version = message.result.get("protocolVersion")
            if isinstance(version, str):
                self.handshake_version = version


#: how long the wrapper waits, once its client has gone, for the gateway to end the session
CLOSE_GRACE_S = 2.0


async def _client_to_endpoint(
    stdin: ObjectReceiveStream[SessionMessage | Exception],
    endpoint: ObjectSendStream[SessionMessage],
    stdout: ObjectSendStream[SessionMessage],
    era: EraHeaders,
    tools: ToolHeaders,
) -> None:
    async for item in stdin:
        if isinstance(item, Exception):
            error = ErrorData(code=PARSE_ERROR, message=f"Parse error: {item}")
            await stdout.send(SessionMessage(JSONRPCError(jsonrpc="2.0", id=None, error=error)))
            continue
        message = item.message
        headers = era.for_client_message(message)
        if isinstance(message, JSONRPCRequest):
            tools.observe_client_request(message)
            if message.method == "tools/call" and headers is not None and MCP_METHOD_HEADER in headers:

                async def post(request: JSONRPCRequest) -> None:
                    own = ClientMessageMetadata(headers=era.for_client_message(request))
                    await endpoint.send(SessionMessage(request, metadata=own))

                headers |= await tools.for_call(message, post)
        await endpoint.send(SessionMessage(message, metadata=ClientMessageMetadata(headers=headers)))


async def _endpoint_to_client(
    endpoint: ObjectReceiveStream[SessionMessage | Exception],
    stdout: ObjectSendStream[SessionMessage],
    era: EraHeaders,
    tools: ToolHeaders,
) -> None:
    async for item in endpoint:
        if isinstance(item, Exception):
            print(f"ledgergate: the gateway sent an unreadable message: {item}", file=sys.stderr, flush=True)
            continue
        era.observe_server_message(item.message)
        if tools.observe_server_message(item.message):
            continue
        await stdout.send(SessionMessage(item.message))


async def run_stdio_to_http(url: str, token: str | None) -> None:
    """Relay this process's standard input and output to the streamable HTTP endpoint at ``url``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=300), transport=GatewayTransport(url))
    era = EraHeaders()
    tools = ToolHeaders()
    with anyio.CancelScope() as ending:
        async with (
            http,
            stdio_server() as (stdin, stdout),
            streamable_http_client(url, http_client=http) as (from_endpoint, to_endpoint),
            anyio.create_task_group() as tasks,
        ):
            tasks.start_soon(_endpoint_to_client, from_endpoint, stdout, era, tools)
            await _client_to_endpoint(stdin, to_endpoint, stdout, era, tools)
            # the client closed our standard input: it is gone. Ending the session at the gateway gets a
            # moment; a gateway that does not answer must not keep this process alive.
            ending.deadline = anyio.current_time() + CLOSE_GRACE_S
            tasks.cancel_scope.cancel()

"""``translate --stdio``, 2026-07-28 era: each stateless POST relayed to a pooled stdio server process.

A 2026-07-28 request stands alone (its version, client capabilities and log level travel in ``_meta``), so
any process of the pool can answer it. A process serves one request at a time: everything it writes while
doing so (progress, log messages, the subscription notifications of ``subscriptions/listen``) belongs to
that request's response stream, with no guessing. One spare process is kept started so that a request does
not wait for a process to start. Closing the response stream is the client's cancellation: the process is
told (``notifications/cancelled``) and retired, so nothing it still writes reaches another request.

What stdio cannot carry is checked here, with the SDK's own rules: the ``Origin``/``Host`` checks and the
routing headers against the body (``-32020``); the body travels as it came. An error answer gets the HTTP
status the SDK gives its code (``-32601`` 404, ``-32602``/``-32020``/``-32021``/``-32022`` 400).
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from mcp.shared.message import SessionMessage
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
)
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ledgergate.api.bridges.processes import ProcessPool

__all__ = ["StatelessRelay"]

KEEPALIVE_SECONDS = 15.0
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


@dataclass
class _Job:
    """One request relayed through one pooled process."""

    request: JSONRPCRequest
    answers: MemoryObjectSendStream[JSONRPCMessage]
    abandoned: anyio.Event = field(default_factory=anyio.Event)

    async def fail(self, reason: str) -> None:
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self.answers.send(_error(self.request.id, INTERNAL_ERROR, reason))

    def _belongs(self, message: JSONRPCNotification) -> bool:
        """Whether a notification is this request's: the process may still be flushing a cancelled one's."""
        params = message.params or {}
        if message.method == "notifications/progress":
            token = progress_token_from_params(self.request.params)
            return token is not None and params.get("progressToken") == token
        meta = params.get("_meta")
        if isinstance(meta, dict) and SUBSCRIPTION_ID_META_KEY in meta:
            return self.request.method == "subscriptions/listen" and meta[SUBSCRIPTION_ID_META_KEY] == self.request.id
        return True

    async def serve(self, from_child: Any, to_child: Any) -> bool:
        """Relay this request through one process; whether the process may take another."""
        answered = False
        await to_child.send(SessionMessage(self.request))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._cancel_when_abandoned, to_child, tasks.cancel_scope)
            async for item in from_child:
                if isinstance(item, Exception):
                    continue
                message = item.message
                if isinstance(message, JSONRPCRequest):
                    # The 2026-07-28 era has no server-to-client requests (input_required results instead).
                    await to_child.send(SessionMessage(_error(message.id, METHOD_NOT_FOUND, "Method not found")))
                    continue
                if isinstance(message, JSONRPCResponse | JSONRPCError):
                    if message.id != self.request.id:
                        continue
                    answered = True
                elif not self._belongs(message):
                    continue
                try:
                    await self.answers.send(message)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    self.abandoned.set()
                    return True
                if answered:
                    tasks.cancel_scope.cancel()
                    return True
            await self.fail("the stdio server exited before answering")
            tasks.cancel_scope.cancel()
        # Here only when the client went away (the process is told, and can take more) or the process ended.
        return self.abandoned.is_set()

    async def _cancel_when_abandoned(self, to_child: Any, scope: anyio.CancelScope) -> None:
        await self.abandoned.wait()
        params = {"requestId": self.request.id, "reason": "the client closed the response stream"}
        cancelled = JSONRPCNotification(jsonrpc="2.0", method="notifications/cancelled", params=params)
        await to_child.send(SessionMessage(cancelled))
        scope.cancel()


def _wire(message: JSONRPCMessage) -> dict[str, Any]:
    return message.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _error(request_id: Any, code: int, message: str, data: Any = None) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message, data=data))


async def _answer(message: JSONRPCMessage, scope: Scope, receive: Receive, send: Send) -> None:
    status = ERROR_CODE_HTTP_STATUS.get(message.error.code, 200) if isinstance(message, JSONRPCError) else 200
    body = json.dumps(_wire(message), separators=(",", ":"))
    await Response(body, status_code=status, media_type="application/json")(scope, receive, send)


def _event(message: JSONRPCMessage) -> bytes:
    return f"event: message\r\ndata: {json.dumps(_wire(message), separators=(',', ':'))}\r\n\r\n".encode()


class StatelessRelay:
    """The ASGI handler for 2026-07-28 POSTs of ``translate --stdio``."""

    def __init__(self, pool: ProcessPool, security: TransportSecuritySettings | None) -> None:
        self._security = TransportSecurityMiddleware(security)
        self._pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        refused = await self._security.validate_request(request, is_post=request.method == "POST")
        if refused is not None:
            await refused(scope, receive, send)
            return
        if request.method != "POST":
            await Response(status_code=405, headers={"Allow": "POST"})(scope, receive, send)
            return
        has_json, has_sse = check_accept_headers(request)
        if not has_json or not has_sse:
            await Response(status_code=406)(scope, receive, send)
            return
        try:
            decoded = json.loads(await request.body())
        except (ValueError, RecursionError):
            await _answer(_error(None, PARSE_ERROR, "Parse error"), scope, receive, send)
            return
        if isinstance(decoded, dict) and "id" not in decoded:
            await Response(status_code=202)(scope, receive, send)
            return
        try:
            message = JSONRPCRequest.model_validate(decoded)
        except ValidationError:
            await _answer(_error(None, INVALID_REQUEST, "Body must be one JSON-RPC request"), scope, receive, send)
            return
        rejection = self._rejection(request, decoded)
        if rejection is not None:
            await _answer(_error(message.id, rejection.code, rejection.message, rejection.data), scope, receive, send)
            return
        await self._relay(message, scope, receive, send)

    @staticmethod
    def _rejection(request: Request, decoded: dict[str, Any]) -> InboundLadderRejection | None:
        duplicated = find_duplicated_routing_header(request.headers.items())
        if duplicated is not None:
            return InboundLadderRejection(code=HEADER_MISMATCH, message=f"{duplicated} header appears more than once")
        verdict = classify_inbound_request(decoded, headers=dict(request.headers))
        return verdict if isinstance(verdict, InboundLadderRejection) else None

    async def _relay(self, message: JSONRPCRequest, scope: Scope, receive: Receive, send: Send) -> None:
        answers, answered = anyio.create_memory_object_stream[JSONRPCMessage](16)
        job = _Job(message, answers)
        async with answered, anyio.create_task_group() as tasks:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                job.abandoned.set()
                tasks.cancel_scope.cancel()

            tasks.start_soon(watch_disconnect)
            await self._pool.submit(job)
            await _respond(answered, scope, receive, send)
            tasks.cancel_scope.cancel()


async def _next(answered: MemoryObjectReceiveStream[JSONRPCMessage]) -> JSONRPCMessage | None:
    with anyio.move_on_after(KEEPALIVE_SECONDS):
        return await answered.receive()
    return None


async def _respond(
    answered: MemoryObjectReceiveStream[JSONRPCMessage], scope: Scope, receive: Receive, send: Send
) -> None:
    """JSON when the answer comes first and soon; otherwise an SSE stream of what comes, ending with the answer."""
    message = await _next(answered)
    if isinstance(message, JSONRPCResponse | JSONRPCError):
        await _answer(message, scope, receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    while True:
        body = b": ping\r\n\r\n" if message is None else _event(message)
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send({"type": "http.response.body", "body": body, "more_body": True})
        message = await _next(answered)

"""The ``Mcp-Param-*`` headers (SEP-2243) the stdio wrapper adds to a 2026-07-28 ``tools/call``.

Over HTTP a client mirrors each argument of a tool whose input property carries ``x-mcp-header`` into an
``Mcp-Param-{Name}`` header, and the gateway refuses the call (``-32020``) without it; over stdio there are
no headers. So the wrapper learns each tool's declarations from the ``tools/list`` results it relays (every
page; forgotten on ``notifications/tools/list_changed``) and adds the headers, encoded as the gateway checks
them (``api.mcp.param_headers``). A call of a tool it has not seen listed makes it fetch ``tools/list``
itself first, with the call's own ``_meta`` envelope, over the same connection (so with the client's token);
those requests and their answers never reach the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import anyio
from mcp_types import JSONRPCError, JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse, RequestId

from ledgergate.api.mcp.param_headers import declarations, param_headers

__all__ = ["ToolHeaders"]

#: the ``tools/list`` the wrapper fetches for itself follows at most this many pages, each waited for this long
MAX_PAGES = 100
PAGE_TIMEOUT_S = 60.0
PROTOCOL_META_PREFIX = "io.modelcontextprotocol/"
Post = Callable[[JSONRPCRequest], Awaitable[None]]


class ToolHeaders:
    def __init__(self) -> None:
        self._declared: dict[str, dict[str, str]] = {}
        self._listing: set[RequestId] = set()  # the client's tools/list requests on their way
        self._fetched: set[str] = set()  # unknown tools a fetch did not find (no new fetch until a change)
        self._answers: dict[RequestId, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._fetching = anyio.Lock()

    def observe_client_request(self, message: JSONRPCRequest) -> None:
        if message.method == "tools/list":
            self._listing.add(message.id)

    def observe_server_message(self, message: JSONRPCMessage) -> bool:
        """Learn from a message of the endpoint; True when it answers the wrapper's own request (not relayed)."""
        if isinstance(message, JSONRPCNotification) and message.method == "notifications/tools/list_changed":
            self._declared.clear()
            self._fetched.clear()
        elif isinstance(message, JSONRPCResponse | JSONRPCError) and message.id is not None:
            if message.id in self._answers:
                done, answer = self._answers.pop(message.id)
                if isinstance(message, JSONRPCResponse):
                    answer.append(message.result)
                done.set()
                return True
            if message.id in self._listing:
                self._listing.discard(message.id)
                if isinstance(message, JSONRPCResponse):
                    self._learn(message.result)
        return False

    def _learn(self, result: dict[str, Any]) -> None:
        tools = result.get("tools")
        for tool in tools if isinstance(tools, list) else []:
            if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                self._declared[tool["name"]] = declarations(tool.get("inputSchema"))

    async def for_call(self, call: JSONRPCRequest, post: Post) -> dict[str, str]:
        """The ``Mcp-Param-*`` headers of a 2026-07-28 ``tools/call``, fetching ``tools/list`` once if need be."""
        params = call.params or {}
        name = params.get("name")
        if not isinstance(name, str):
            return {}
        if name not in self._declared and name not in self._fetched:
            async with self._fetching:
                if name not in self._declared and name not in self._fetched:
                    await self._fetch(params.get("_meta"), post)
                    if name not in self._declared:
                        self._fetched.add(name)
        return param_headers(self._declared.get(name, {}), params.get("arguments"))

    async def _fetch(self, meta: Any, post: Post) -> None:
        meta = meta if isinstance(meta, dict) else {}
        envelope = {key: value for key, value in meta.items() if key.startswith(PROTOCOL_META_PREFIX)}
        cursor: Any = None
        for _ in range(MAX_PAGES):
            request_id = f"ledgergate-wrapper/tools-list/{uuid4()}"
            params: dict[str, Any] = {"_meta": envelope} | ({"cursor": cursor} if cursor is not None else {})
            done, answer = self._answers[request_id] = (anyio.Event(), [])
            await post(JSONRPCRequest(jsonrpc="2.0", id=request_id, method="tools/list", params=params))
            with anyio.move_on_after(PAGE_TIMEOUT_S):
                await done.wait()
            self._answers.pop(request_id, None)
            if not answer:
                return
            self._learn(answer[0])
            cursor = answer[0].get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                return

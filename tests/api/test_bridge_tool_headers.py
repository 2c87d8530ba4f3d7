"""What the stdio wrapper learns of ``x-mcp-header`` declarations: every page, forgotten on a change.

The gateway side is in tests/e2e/test_bridges.py; here the endpoint is a list of pages answered in order."""

from __future__ import annotations

from typing import Any

import anyio
from mcp_types import JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

from ledgergate.api.bridges.tool_headers import ToolHeaders

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


def tool(name: str, header: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"where": {"type": "string", "x-mcp-header": header}}}
    return {"name": name, "inputSchema": schema}


def call(name: str, where: Any) -> JSONRPCRequest:
    params = {"name": name, "arguments": {"where": where}, "_meta": {**META, "progressToken": 7}}
    return JSONRPCRequest(jsonrpc="2.0", id=1, method="tools/call", params=params)


class Endpoint:
    """Answers the wrapper's own ``tools/list`` requests with ``pages``, in order, and records them."""

    def __init__(self, tools: ToolHeaders, pages: list[dict[str, Any]]) -> None:
        self.tools = tools
        self.pages = pages
        self.asked: list[dict[str, Any]] = []

    async def post(self, request: JSONRPCRequest) -> None:
        self.asked.append(request.params or {})
        result = self.pages[len(self.asked) - 1]
        assert self.tools.observe_server_message(JSONRPCResponse(jsonrpc="2.0", id=request.id, result=result))


def test_a_call_of_an_unseen_tool_fetches_every_page_once_with_the_calls_envelope() -> None:
    tools = ToolHeaders()
    endpoint = Endpoint(tools, [{"tools": [tool("a", "A")], "nextCursor": "p2"}, {"tools": [tool("b", "Where")]}])

    async def run() -> list[dict[str, str]]:
        return [await tools.for_call(call("b", where), endpoint.post) for where in ("x", True, 42, "é")]

    assert anyio.run(run) == [
        {"Mcp-Param-Where": "x"},
        {"Mcp-Param-Where": "true"},
        {"Mcp-Param-Where": "42"},
        {"Mcp-Param-Where": "=?base64?w6k=?="},
    ]
    assert endpoint.asked == [{"_meta": META}, {"_meta": META, "cursor": "p2"}]  # no progressToken


def test_relayed_pages_are_learned_and_a_list_change_forgets_them() -> None:
    tools = ToolHeaders()
    for page, (name, header) in enumerate([("a", "A"), ("b", "B")]):
        tools.observe_client_request(JSONRPCRequest(jsonrpc="2.0", id=page, method="tools/list", params={}))
        relayed = JSONRPCResponse(jsonrpc="2.0", id=page, result={"tools": [tool(name, header)]})
        assert not tools.observe_server_message(relayed)  # the client's answer goes to the client
    endpoint = Endpoint(tools, [{"tools": [tool("a", "Renamed")]}])

    async def run() -> list[dict[str, str]]:
        seen = [await tools.for_call(call(name, "v"), endpoint.post) for name in ("a", "b")]
        tools.observe_server_message(JSONRPCNotification(jsonrpc="2.0", method="notifications/tools/list_changed"))
        return [*seen, await tools.for_call(call("a", "v"), endpoint.post)]

    assert anyio.run(run) == [{"Mcp-Param-A": "v"}, {"Mcp-Param-B": "v"}, {"Mcp-Param-Renamed": "v"}]
    assert len(endpoint.asked) == 1  # only after the change


def test_a_tool_the_gateway_does_not_list_is_fetched_for_once() -> None:
    tools = ToolHeaders()
    endpoint = Endpoint(tools, [{"tools": []}])

    async def run() -> list[dict[str, str]]:
        return [await tools.for_call(call("gone", "v"), endpoint.post) for _ in range(3)]

    assert anyio.run(run) == [{}, {}, {}]
    assert len(endpoint.asked) == 1

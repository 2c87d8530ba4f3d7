"""The official MCP SDK client against a real gateway process, in both protocol eras and over SSE."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import ServerProcess, start_server
from tests.support.echo import echo_service

pytestmark = pytest.mark.slow


@dataclass
class Gateway:
    server: ServerProcess
    token: str
    echo: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def rest(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = httpx.request(
            method, self.server.url + "/v1/tenants/default" + path, headers=self.headers, timeout=10, **kwargs
        )
        assert response.status_code < 300, response.text
        return response.json()  # type: ignore[no-any-return]

    def client(self, path: str, mode: str, **kwargs: Any) -> Client:
        transport = streamable_http_client(
            self.server.url + path, http_client=httpx2.AsyncClient(headers=self.headers, timeout=httpx2.Timeout(60))
        )
        return Client(transport, mode=mode, **kwargs)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data = tmp_path_factory.mktemp("mcp") / "data"
    with echo_service() as echo:
        server = start_server(data)
        try:
            yield Gateway(server=server, token=(data / "admin-token").read_text().strip(), echo=echo)
        finally:
            server.stop()


@pytest.fixture(scope="module")
def catalog(gateway: Gateway) -> dict[str, str]:
    tool = gateway.rest(
        "POST",
        "/tools",
        json={
            "name": "weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "output_schema": {"type": "object"},
            "integration": {"method": "GET", "url": gateway.echo + "/weather/{city}", "headers": {"X-Api-Key": "k-1"}},
        },
    )
    other = gateway.rest(
        "POST",
        "/tools",
        json={
            "name": "create_ticket",
            "input_schema": {"type": "object", "properties": {"title": {"type": "string"}}},
            "integration": {
                "method": "POST",
                "url": gateway.echo + "/tickets",
                "auth": {"type": "bearer", "token": "t-9"},
            },
        },
    )
    prompt = gateway.rest(
        "POST",
        "/prompts",
        json={"name": "greet", "template": "Hello {{ who }}!", "arguments": [{"name": "who", "required": True}]},
    )
    resource = gateway.rest("POST", "/resources", json={"uri": "docs://handbook", "name": "handbook", "text": "# Hi"})
    server = gateway.rest(
        "POST",
        "/servers",
        json={
            "name": "weather-only",
            "tool_ids": [tool["id"]],
            "prompt_ids": [prompt["id"]],
            "resource_ids": [resource["id"]],
        },
    )
    wait_visible(gateway, server["position"])
    return {"tool": tool["id"], "other": other["id"], "server": server["id"]}


def wait_visible(gateway: Gateway, position: int) -> None:
    """Until the gateway's catalog has reached ``position`` (a REST read with min_position waits for it)."""
    response = httpx.get(
        f"{gateway.server.url}/v1/tenants/default/tools?min_position={position}", headers=gateway.headers, timeout=10
    )
    assert response.status_code == 200


async def exercise(client: Client) -> dict[str, Any]:
    async with client as session:
        tools = await session.list_tools()
        called = await session.call_tool("weather", {"city": "Paris"})
        invalid = await session.call_tool("weather", {"city": 7})
        prompt = await session.get_prompt("greet", {"who": "Ada"})
        resource = await session.read_resource("docs://handbook")
        return {
            "version": session.protocol_version,
            "tools": sorted(t.name for t in tools.tools),
            "called": called,
            "invalid": invalid,
            "prompt": prompt.messages[0].content.text,
            "resource": resource.contents[0].text,
        }


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_an_sdk_client_lists_calls_and_reads_through_the_tenant_endpoint(
    gateway: Gateway, catalog: dict[str, str], mode: str
) -> None:
    seen = asyncio.run(exercise(gateway.client("/mcp", mode)))
    assert seen["version"] == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert seen["tools"] == ["create_ticket", "weather"]
    assert seen["called"].is_error is False
    assert seen["called"].structured_content == {
        "method": "GET",
        "path": "/weather/Paris",
        "body": None,
        "api_key": "k-1",
        "authorization": None,
        "traceparent": None,
    }
    assert seen["invalid"].is_error is True and "city" in seen["invalid"].content[0].text
    assert seen["prompt"] == "Hello Ada!"
    assert seen["resource"] == "# Hi"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_a_virtual_server_endpoint_exposes_only_its_members(
    gateway: Gateway, catalog: dict[str, str], mode: str
) -> None:
    seen = asyncio.run(exercise(gateway.client(f"/servers/{catalog['server']}/mcp", mode)))
    assert seen["tools"] == ["weather"]


def test_a_post_tool_sends_the_arguments_as_json_with_the_decrypted_bearer_and_never_the_clients_token(
    gateway: Gateway, catalog: dict[str, str]
) -> None:
    async def call() -> Any:
        async with gateway.client("/mcp", "legacy") as session:
            return await session.call_tool("create_ticket", {"title": "Broken"})

    result = asyncio.run(call())
    echoed = result.content[0].text
    assert '"body": {"title": "Broken"}' in echoed
    assert '"authorization": "Bearer t-9"' in echoed
    assert gateway.token not in echoed


def test_an_sse_client_uses_the_legacy_http_sse_transport(gateway: Gateway, catalog: dict[str, str]) -> None:
    async def run() -> list[str]:
        transport = sse_client(f"{gateway.server.url}/servers/{catalog['server']}/sse", headers=gateway.headers)
        async with Client(transport, mode="legacy") as session:
            tools = await session.list_tools()
            result = await session.call_tool("weather", {"city": "Oslo"})
            return [*(t.name for t in tools.tools), result.content[0].text]

    names = asyncio.run(run())
    assert names[0] == "weather"
    assert "/weather/Oslo" in names[1]


def test_disabling_a_tool_sends_list_changed_to_a_connected_legacy_client(
    gateway: Gateway, catalog: dict[str, str]
) -> None:
    async def run() -> tuple[list[str], list[str]]:
        received: list[str] = []
        changed = asyncio.Event()

        async def on_message(message: Any) -> None:
            method = getattr(getattr(message, "root", message), "method", None)
            if method:
                received.append(method)
                if method == "notifications/tools/list_changed":
                    changed.set()

        async with gateway.client("/mcp", "legacy", message_handler=on_message) as session:
            await session.list_tools()
            await asyncio.to_thread(gateway.rest, "POST", f"/tools/{catalog['other']}/disable")
            await asyncio.wait_for(changed.wait(), timeout=10)
            after = await session.list_tools()
        return received, [t.name for t in after.tools]

    try:
        received, names = asyncio.run(run())
    finally:
        gateway.rest("POST", f"/tools/{catalog['other']}/enable")
    assert "notifications/tools/list_changed" in received
    assert names == ["weather"]


def test_a_modern_subscription_stream_acknowledges_then_delivers_list_changed(
    gateway: Gateway, catalog: dict[str, str]
) -> None:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = {
        "jsonrpc": "2.0",
        "id": "sub-1",
        "method": "subscriptions/listen",
        "params": {"notifications": {"promptsListChanged": True}, "_meta": meta},
    }
    headers = {
        **gateway.headers,
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "subscriptions/listen",
    }
    events: list[str] = []
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", gateway.server.url + "/mcp", json=body, headers=headers) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        deadline = time.monotonic() + 10
        created = False
        for line in lines:
            if line.startswith("data: "):
                events.append(line[6:])
                if not created:
                    created = True
                    gateway.rest("POST", "/prompts", json={"name": "added_later", "template": "x"})
                else:
                    break
            assert time.monotonic() < deadline
    assert "notifications/subscriptions/acknowledged" in events[0]
    assert "notifications/prompts/list_changed" in events[1]
    assert '"io.modelcontextprotocol/subscriptionId":"sub-1"' in events[1]


def test_tool_calls_over_the_per_token_limit_are_refused_with_an_is_error_result(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with echo_service() as echo:
        server = start_server(data, LEDGERGATE_TOKEN_CALLS_PER_MINUTE="3")
        try:
            gateway = Gateway(server=server, token=(data / "admin-token").read_text().strip(), echo=echo)
            tool = gateway.rest(
                "POST",
                "/tools",
                json={
                    "name": "ping_echo",
                    "input_schema": {"type": "object"},
                    "integration": {"method": "GET", "url": echo + "/p"},
                },
            )
            wait_visible(gateway, tool["position"])

            async def run() -> list[bool]:
                async with gateway.client("/mcp", "legacy") as session:
                    return [bool((await session.call_tool("ping_echo", {})).is_error) for _ in range(5)]

            outcomes = asyncio.run(run())
        finally:
            server.stop()
    assert outcomes[:3] == [False, False, False]
    assert outcomes[3:] == [True, True]

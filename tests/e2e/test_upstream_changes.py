"""The catalog follows an upstream whose tools change at run time, driven by its list_changed alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import start_server
from tests.e2e.test_upstreams import Gateway
from tests.support.processes import serving

pytestmark = pytest.mark.slow


@pytest.fixture
def watched_gateway(tmp_path: Path) -> Iterator[Gateway]:
    data = tmp_path / "data"
    server = start_server(data, LEDGERGATE_PROBE_INTERVAL_S="1")
    try:
        yield Gateway(server=server, token=(data / "admin-token").read_text().strip())
    finally:
        server.stop()


def tool_rows(gateway: Gateway) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in gateway.call("GET", "/tools?limit=100").json()["items"]}


def wait_until(check: Any, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def test_tools_an_upstream_adds_and_removes_appear_and_vanish_with_no_refresh_asked(watched_gateway: Gateway) -> None:
    gateway = watched_gateway
    with serving("tests.support.changing_upstream") as url:
        written = gateway.register({"name": "shifty", "transport": "streamable_http", "url": url})
        gateway.wait(written["position"])
        ids = {item["name"]: item["id"] for item in written["report"]["added"]}
        view = gateway.call("POST", "/servers", json={"name": "view", "tool_ids": [ids["stable"], ids["grow"]]})
        assert view.status_code == 201, view.text
        whole = gateway.call("POST", "/servers", json={"name": "whole", "upstream_ids": [written["id"]]})
        assert whole.status_code == 201, whole.text
        wait_until(
            lambda: (
                gateway.call("GET", f"/upstreams/{written['id']}").json().get("health", {}).get("state") == "healthy"
            ),
            "the supervisor watches the upstream",
        )

        async def server_tools(server_id: str) -> list[str]:
            http = httpx2.AsyncClient(headers=gateway.headers, timeout=httpx2.Timeout(60))
            transport = streamable_http_client(f"{gateway.server.url}/servers/{server_id}/mcp", http_client=http)
            async with Client(transport, mode="legacy") as session:
                return sorted(t.name for t in (await session.list_tools()).tools)

        async def grow_then_shrink() -> tuple[list[str], str, list[str], list[str], list[str], list[str]]:
            received: list[str] = []
            changed = asyncio.Event()

            async def on_message(message: Any) -> None:
                method = getattr(getattr(message, "root", message), "method", None)
                if method == "notifications/tools/list_changed":
                    received.append(method)
                    changed.set()

            http = httpx2.AsyncClient(headers=gateway.headers, timeout=httpx2.Timeout(60))
            transport = streamable_http_client(gateway.server.url + "/mcp", http_client=http)
            async with Client(transport, mode="legacy", message_handler=on_message) as session:
                deadline = time.monotonic() + 30
                grown: list[str] = []
                while "shifty__fresh" not in grown:  # a notification sent before the watch connected is lost
                    assert time.monotonic() < deadline, "the grown tool never appeared"
                    await session.call_tool("shifty__grow", {"name": "fresh"})
                    for _ in range(25):
                        grown = [t.name for t in (await session.list_tools()).tools]
                        if "shifty__fresh" in grown:
                            break
                        await asyncio.sleep(0.2)
                assert changed.is_set()
                whole_after_growing = await server_tools(whole.json()["id"])
                answer = (await session.call_tool("shifty__fresh", {})).content[0].text
                changed.clear()
                await session.call_tool("shifty__shrink", {"name": "stable"})
                await asyncio.wait_for(changed.wait(), timeout=20)
                shrunk = [t.name for t in (await session.list_tools()).tools]
            in_view = await server_tools(view.json()["id"])
            return grown, answer, shrunk, in_view, whole_after_growing, received

        grown, answer, shrunk, in_view, in_whole, received = asyncio.run(grow_then_shrink())

    assert sorted(grown) == ["shifty__fresh", "shifty__grow", "shifty__shrink", "shifty__stable"]
    assert answer == "I am fresh"
    assert sorted(shrunk) == ["shifty__fresh", "shifty__grow", "shifty__shrink"]
    assert in_view == ["shifty__grow"]  # the server's removed member left it with the upstream
    assert in_whole == sorted(grown)  # a server holding the whole upstream gained the new tool
    assert len(received) >= 2
    upstream = gateway.call("GET", f"/upstreams/{written['id']}").json()
    assert upstream.get("refresh_interval_s") is None  # no schedule: list_changed alone drove the refreshes
    history = gateway.call("GET", f"/tools/{ids['stable']}/history").json()["versions"]
    assert [v["event"] for v in history] == ["Registered", "Deleted"]
    assert tool_rows(gateway)["shifty__fresh"]["updated_by"] == "system:supervisor"

"""Two gateway processes on PostgreSQL and Redis serve one MCP client as if they were one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ACCEPT = "application/json, text/event-stream"


def rpc(
    url: str,
    token: str,
    session: str | None,
    method: str,
    params: dict[str, Any] | None = None,
    request_id: int | None = 1,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json"}
    if session:
        headers |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if request_id is not None:
        body["id"] = request_id
    return httpx.post(url + "/mcp", json=body, headers=headers, timeout=10)


def tool_names(url: str, token: str, session: str) -> list[str]:
    return [t["name"] for t in rpc(url, token, session, "tools/list").json()["result"]["tools"]]


def test_a_session_begun_on_one_process_continues_on_the_other_and_sees_the_others_writes(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    data = tmp_path / "data"
    first = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
    second = start_server(data, postgres_url, workers=2, LEDGERGATE_REDIS_URL=redis_url)
    token = (data / "admin-token").read_text().strip()
    try:
        init = rpc(
            first.url,
            token,
            None,
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        )
        session = init.headers["Mcp-Session-Id"]
        assert rpc(second.url, token, session, "notifications/initialized", request_id=None).status_code == 202
        assert tool_names(second.url, token, session) == []

        stream_headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "text/event-stream",
            "Mcp-Session-Id": session,
            "MCP-Protocol-Version": "2025-11-25",
        }
        with (
            httpx.Client(timeout=10) as http,
            http.stream("GET", second.url + "/mcp", headers=stream_headers) as stream,
        ):
            assert stream.status_code == 200
            created = httpx.post(
                first.url + "/v1/tenants/default/tools",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "name": "added_on_first",
                    "input_schema": {"type": "object"},
                    "integration": {"method": "GET", "url": "https://api.example.com/x"},
                },
            )
            assert created.status_code == 201
            deadline = time.monotonic() + 10
            notified = False
            for line in stream.iter_lines():
                if "notifications/tools/list_changed" in line:
                    notified = True
                    break
                assert time.monotonic() < deadline
        assert notified
        assert tool_names(second.url, token, session) == ["added_on_first"]
        assert tool_names(first.url, token, session) == ["added_on_first"]
        assert httpx.delete(second.url + "/mcp", headers=stream_headers).status_code == 200
        assert rpc(first.url, token, session, "tools/list").status_code == 404
    finally:
        first.stop()
        second.stop()


def test_legacy_sse_clients_work_when_their_posts_land_on_another_worker(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    import asyncio

    from mcp import Client
    from mcp.client.sse import sse_client

    data = tmp_path / "data"
    server = start_server(data, postgres_url, workers=2, LEDGERGATE_REDIS_URL=redis_url)
    token = (data / "admin-token").read_text().strip()

    async def one_client() -> str:
        async with Client(
            sse_client(server.url + "/sse", headers={"Authorization": f"Bearer {token}"}), mode="legacy"
        ) as session:
            await session.list_tools()
            return str(session.protocol_version)

    async def many() -> list[str]:
        return [await one_client() for _ in range(6)]

    try:
        assert asyncio.run(many()) == ["2025-11-25"] * 6
    finally:
        server.stop()

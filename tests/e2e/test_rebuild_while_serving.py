"""``ledgergate projections rebuild`` while a gateway serves MCP clients from the same database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import start_server

pytestmark = pytest.mark.slow
TOOLS = 40


def tool(n: int) -> dict[str, Any]:
    return {
        "name": f"tool_{n:02d}",
        "input_schema": {"type": "object"},
        "integration": {"method": "GET", "url": "https://api.example.com/x", "headers": {"X-Key": "hush"}},
    }


def test_mcp_serving_and_the_audit_log_continue_through_rebuilds(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    server = start_server(data, database_url)
    env = {**os.environ, "LEDGERGATE_DATA_DIR": str(data), "LEDGERGATE_DATABASE_URL": database_url}
    token = (data / "admin-token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    rest = httpx.Client(base_url=server.url + "/v1", headers=headers, timeout=60)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ledgergate.api.cli", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )

    try:
        last = 0
        for n in range(TOOLS):
            last = rest.post("/tenants/default/tools", json=tool(n)).json()["position"]
        before = rest.get(f"/audit?tenant=default&limit=1000&min_position={last}").json()["items"]
        expected = sorted(tool(n)["name"] for n in range(TOOLS))

        async def serve_while_rebuilding() -> tuple[list[list[str]], list[subprocess.CompletedProcess[str]]]:
            seen: list[list[str]] = []
            http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60))
            async with Client(streamable_http_client(server.url + "/mcp", http_client=http), mode="legacy") as client:
                rebuilds = asyncio.gather(*(asyncio.to_thread(cli, "projections", "rebuild") for _ in range(2)))
                task = asyncio.ensure_future(rebuilds)
                while not task.done() or len(seen) < 5:
                    seen.append(sorted(t.name for t in (await client.list_tools()).tools))
                    await asyncio.sleep(0.01)
                return seen, list(await task)

        seen, results = asyncio.run(serve_while_rebuilding())
        for result in results:
            assert result.returncode == 0, result.stderr
            assert "rebuilt catalog" in result.stdout and "rebuilt audit" in result.stdout
        assert all(names == expected for names in seen), "a tools/list during the rebuild saw another catalog"
        written = rest.post("/tenants/default/tools", json=tool(TOOLS)).json()  # the follower goes on after it
        after = rest.get(f"/audit?tenant=default&limit=1000&min_position={written['position']}").json()["items"]
        assert after[: len(before)] == before
        assert after[len(before)]["stream_id"] == written["id"]
        listed = rest.get(f"/tenants/default/tools?limit=100&min_position={written['position']}").json()["items"]
        assert len(listed) == TOOLS + 1
        status = cli("projections", "status", "--json")
        assert status.returncode == 0, status.stderr
        lags = [row["lag"] for row in json.loads(status.stdout)]
        assert lags == [0, 0], status.stdout
    finally:
        rest.close()
        server.stop()

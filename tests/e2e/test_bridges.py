"""``ledgergate wrapper`` and ``ledgergate translate`` driven by the official SDK client."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters

from tests.api.conftest import free_port, start_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_the_wrapper_serves_a_gateway_endpoint_over_stdio(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    token = (data / "admin-token").read_text().strip()
    try:
        created = httpx.post(
            server.url + "/v1/tenants/default/prompts",
            headers={"Authorization": f"Bearer {token}"},
            json={"name": "hello", "template": "Hello {{ who }}"},
        )
        httpx.get(
            f"{server.url}/v1/tenants/default/prompts?min_position={created.json()['position']}",
            headers={"Authorization": f"Bearer {token}"},
        )
        params = StdioServerParameters(
            command=sys.executable,
            cwd=str(ROOT),
            args=["-m", "api.cli", "wrapper", "--url", server.url + "/mcp", "--token", token],
        )

        async def run() -> tuple[list[str], str]:
            async with Client(params, mode="legacy") as session:
                prompts = await session.list_prompts()
                got = await session.get_prompt("hello", {"who": "stdio"})
                return [p.name for p in prompts.prompts], got.messages[0].content.text

        names, text = asyncio.run(run())
        assert names == ["hello"]
        assert text == "Hello stdio"
    finally:
        server.stop()


def test_translate_serves_a_stdio_server_over_streamable_http() -> None:
    port = free_port()
    command = f"{sys.executable} -m tests.support.upstream_server stdio 0 bridged"
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "translate", "--stdio", command, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "translate did not start"
                time.sleep(0.05)

        async def run() -> str:
            async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as session:
                return (await session.call_tool("whoami", {})).content[0].text

        assert asyncio.run(run()) == "bridged"
    finally:
        process.terminate()
        process.wait(timeout=10)

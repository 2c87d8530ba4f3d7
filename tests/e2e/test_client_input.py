"""Upstream tools that need the client mid-call (elicitation, sampling, roots), through the gateway.

The upstream is built with the SDK's resolvers: to a modern request it answers ``input_required``; in a
legacy session it sends the request mid-call. Clients are the official SDK client in both eras.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import free_port
from tests.e2e.test_upstreams import ROOT, Gateway, gateway  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def asking_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.asking_upstream", "http", str(port)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the asking upstream did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    process.kill()
    process.wait()


class Answers:
    """The client's side: what it answers, and what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append("elicitation/create")
        return types.ElicitResult(action="accept", content={"colour": "teal"})

    async def sample(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.asked.append("sampling/createMessage")
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="hello there"), model="test-model"
        )

    async def roots(self, context: Any) -> types.ListRootsResult:
        self.asked.append("roots/list")
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/project", name="project")])

    def client(self, target: Gateway, mode: str) -> Client:
        http = httpx2.AsyncClient(headers=target.headers, timeout=httpx2.Timeout(60))
        return Client(
            streamable_http_client(target.server.url + "/mcp", http_client=http),
            mode=mode,  # type: ignore[arg-type]
            elicitation_callback=self.elicit,
            sampling_callback=self.sample,
            list_roots_callback=self.roots,
        )


def call_all(client: Client) -> list[str]:
    async def run() -> list[str]:
        async with client as session:
            texts = []
            for tool in ("ask__favourite", "ask__greeting", "ask__roots"):
                result = await session.call_tool(tool, {})
                assert not result.is_error, result
                texts.append(result.content[0].text)  # type: ignore[union-attr]
            return texts

    return asyncio.run(run())


EXPECTED = ["you like teal", "the model said: hello there", "roots: file:///work/project"]
ASKED = ["elicitation/create", "sampling/createMessage", "roots/list"]


@pytest.mark.parametrize(
    ("session_mode", "client_mode"),
    [
        ("shared", "legacy"),  # the upstream answers input_required; the gateway asks the legacy client
        ("per_client", "legacy"),  # a legacy upstream session asks mid-call; the gateway relays the request
        ("shared", "2026-07-28"),  # input_required passes through to the modern client, and its retry back
    ],
)
def test_an_upstream_tool_asks_the_client_through_the_gateway(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
    session_mode: str,
    client_mode: str,
) -> None:
    written = gateway.register(
        {"name": "ask", "transport": "streamable_http", "url": asking_url, "session_mode": session_mode}
    )
    gateway.wait(written["position"])
    answers = Answers()
    assert call_all(answers.client(gateway, client_mode)) == EXPECTED
    assert answers.asked == ASKED


def test_a_legacy_client_that_declared_nothing_gets_an_error_result_and_is_never_asked(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
) -> None:
    written = gateway.register({"name": "ask", "transport": "streamable_http", "url": asking_url})
    gateway.wait(written["position"])

    async def run() -> Any:
        async with gateway.client() as session:
            return await session.call_tool("ask__favourite", {})

    result = asyncio.run(run())
    assert result.is_error
    assert "elicitation" in result.content[0].text

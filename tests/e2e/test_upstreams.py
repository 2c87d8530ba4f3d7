"""Federating real upstream MCP servers (the SDK's MCPServer over streamable HTTP, SSE and stdio)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import ServerProcess, free_port, start_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


class Upstream:
    """An SDK MCP server subprocess on a loopback port; can be stopped and started again."""

    def __init__(self, transport: str, name: str) -> None:
        self.transport = transport
        self.name = name
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/" + ("mcp" if self.transport == "http" else "sse")

    def start(self, **env: str) -> Upstream:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.upstream_server", self.transport, str(self.port), self.name],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"upstream {self.name} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Gateway:
    server: ServerProcess
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, self.server.url + "/v1/tenants/default" + path, headers=self.headers, timeout=60, **kwargs
        )

    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.call("POST", "/upstreams", json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait(self, position: int) -> None:
        assert self.call("GET", f"/tools?min_position={position}&limit=1").status_code == 200

    def client(self, path: str = "/mcp", mode: str = "legacy") -> Client:
        http = httpx2.AsyncClient(headers=self.headers, timeout=httpx2.Timeout(60))
        return Client(streamable_http_client(self.server.url + path, http_client=http), mode=mode)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        yield Gateway(server=server, token=(data / "admin-token").read_text().strip())
    finally:
        server.stop()


@pytest.fixture
def http_upstream() -> Iterator[Upstream]:
    upstream = Upstream("http", "alpha").start()
    yield upstream
    upstream.stop()


def stdio_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "transport": "stdio",
        "command": sys.executable,
        "cwd": str(ROOT),
        "args": ["-m", "tests.support.upstream_server", "stdio", "0", name],
    }


async def tool_names(gateway: Gateway, path: str = "/mcp") -> list[str]:
    async with gateway.client(path) as session:
        return sorted(t.name for t in (await session.list_tools()).tools)


def test_one_virtual_server_calls_tools_of_three_upstreams_over_http_sse_and_stdio(
    gateway: Gateway, http_upstream: Upstream
) -> None:
    sse = Upstream("sse", "beta").start()
    try:
        alpha = gateway.register({"name": "alpha", "transport": "streamable_http", "url": http_upstream.url})
        beta = gateway.register({"name": "beta", "transport": "sse", "url": sse.url})
        gamma = gateway.register(stdio_body("gamma"))
        picked = [item["id"] for u in (alpha, beta, gamma) for item in u["report"]["added"] if item["name"] == "whoami"]
        server = gateway.call("POST", "/servers", json={"name": "mixed", "tool_ids": picked}).json()
        gateway.wait(server["position"])

        async def run() -> tuple[list[str], list[str]]:
            async with gateway.client(f"/servers/{server['id']}/mcp", mode="2026-07-28") as session:
                names = sorted(t.name for t in (await session.list_tools()).tools)
                answers = [(await session.call_tool(name, {})).content[0].text for name in names]
                return names, answers

        names, answers = asyncio.run(run())
        assert names == ["alpha__whoami", "beta__whoami", "gamma__whoami"]
        assert answers == ["alpha", "beta", "gamma"]
    finally:
        sse.stop()


def test_forwarded_calls_return_structured_content_and_errors_unchanged(
    gateway: Gateway, http_upstream: Upstream
) -> None:
    written = gateway.register({"name": "alpha", "transport": "streamable_http", "url": http_upstream.url})
    gateway.wait(written["position"])

    async def run() -> Any:
        async with gateway.client() as session:
            added = await session.call_tool("alpha__add", {"a": 2, "b": 40})
            bad = await session.call_tool("alpha__add", {"a": "x"})
            note = await session.read_resource("memo://note")
            prompt = await session.get_prompt("alpha__review", {"topic": "the plan"})
            return added, bad, note, prompt

    added, bad, note, prompt = asyncio.run(run())
    assert added.structured_content == {"result": 42}
    assert bad.is_error is True
    assert note.contents[0].text == "a note from alpha"
    assert prompt.messages[0].content.text == "Please review the plan."


def test_an_unreachable_upstream_is_refused_with_502_and_nothing_is_appended(gateway: Gateway) -> None:
    before = gateway.call("GET", "/upstreams").json()
    response = gateway.call(
        "POST",
        "/upstreams",
        json={
            "name": "ghost",
            "transport": "streamable_http",
            "url": f"http://127.0.0.1:{free_port()}/mcp",
            "timeout_s": 5,
        },
    )
    assert response.status_code == 502
    assert response.json()["type"].endswith("upstream-unavailable")
    again = gateway.register(stdio_body("ghost"))  # the name was not taken by the failed attempt
    assert again["version"] >= 1
    assert before["items"] == []


def test_a_refresh_appends_only_the_difference_and_keeps_user_overrides(
    gateway: Gateway, http_upstream: Upstream
) -> None:
    written = gateway.register({"name": "alpha", "transport": "streamable_http", "url": http_upstream.url})
    echo_id = next(i["id"] for i in written["report"]["added"] if i["name"] == "echo")
    renamed = gateway.call("PATCH", f"/tools/{echo_id}", json={"name": "say", "description": "Mine"})
    assert renamed.status_code == 200, renamed.text
    unchanged = gateway.call("POST", f"/upstreams/{written['id']}/refresh").json()
    assert unchanged["appended"] is False
    http_upstream.stop()
    http_upstream.start(EXTRA_TOOL="1")
    refreshed = gateway.call("POST", f"/upstreams/{written['id']}/refresh").json()
    assert refreshed["appended"] is True
    assert [i["name"] for i in refreshed["added"]] == ["extra"]
    gateway.wait(refreshed["position"])
    assert asyncio.run(tool_names(gateway)) == [
        "alpha__add",
        "alpha__counter",
        "alpha__extra",
        "alpha__slow_steps",
        "alpha__whoami",
        "say",
    ]
    assert gateway.call("GET", f"/tools/{echo_id}").json()["description"] == "Mine"
    http_upstream.stop()
    http_upstream.start()
    removed = gateway.call("POST", f"/upstreams/{written['id']}/refresh").json()
    assert [i["name"] for i in removed["removed"]] == ["extra"]


def test_disabling_an_upstream_removes_its_tools_and_enabling_restores_them(
    gateway: Gateway, http_upstream: Upstream
) -> None:
    written = gateway.register({"name": "alpha", "transport": "streamable_http", "url": http_upstream.url})
    add_id = next(i["id"] for i in written["report"]["added"] if i["name"] == "add")
    gateway.call("POST", f"/tools/{add_id}/disable")
    disabled = gateway.call("POST", f"/upstreams/{written['id']}/disable").json()
    gateway.wait(disabled["position"])
    assert asyncio.run(tool_names(gateway)) == []
    enabled = gateway.call("POST", f"/upstreams/{written['id']}/enable").json()
    gateway.wait(enabled["position"])
    assert asyncio.run(tool_names(gateway)) == ["alpha__counter", "alpha__echo", "alpha__slow_steps", "alpha__whoami"]
    deleted = gateway.call("DELETE", f"/upstreams/{written['id']}").json()
    gateway.wait(deleted["position"])
    assert asyncio.run(tool_names(gateway)) == []
    history = gateway.call("GET", f"/tools/{add_id}/history").json()["versions"]
    assert [v["event"] for v in history] == ["Registered", "Disabled", "Deleted"]


def test_a_dead_upstream_fails_calls_fast_and_works_again_when_it_returns(
    gateway: Gateway, http_upstream: Upstream
) -> None:
    written = gateway.register(
        {"name": "alpha", "transport": "streamable_http", "url": http_upstream.url, "timeout_s": 5}
    )
    gateway.wait(written["position"])

    async def call() -> Any:
        async with gateway.client() as session:
            return await session.call_tool("alpha__echo", {"text": "hi"})

    assert asyncio.run(call()).content[0].text == "hi"
    http_upstream.stop()
    started = time.monotonic()
    failed = asyncio.run(call())
    assert failed.is_error is True and "unreachable" in failed.content[0].text
    assert time.monotonic() - started < 10
    http_upstream.start()
    assert asyncio.run(call()).content[0].text == "hi"


def test_health_transitions_are_recorded_once_each_when_an_upstream_dies_and_returns(tmp_path: Path) -> None:
    upstream = Upstream("http", "alpha").start()
    data = tmp_path / "data"
    server = start_server(data, LEDGERGATE_PROBE_INTERVAL_S="1")
    gateway = Gateway(server=server, token=(data / "admin-token").read_text().strip())

    def health_events(upstream_id: str) -> list[str]:
        history = gateway.call("GET", f"/upstreams/{upstream_id}").json()
        return [history.get("health", {}).get("state", "unknown")]

    def wait_for_state(upstream_id: str, state: str) -> None:
        deadline = time.monotonic() + 30
        while health_events(upstream_id) != [state]:
            assert time.monotonic() < deadline, f"health never became {state}"
            time.sleep(0.2)

    try:
        written = gateway.register(
            {"name": "alpha", "transport": "streamable_http", "url": upstream.url, "timeout_s": 3}
        )
        wait_for_state(written["id"], "healthy")
        upstream.stop()
        wait_for_state(written["id"], "unreachable")
        upstream.start()
        wait_for_state(written["id"], "healthy")
        position = gateway.call("GET", f"/upstreams/{written['id']}").json()["position"]
        time.sleep(2.5)  # a few more probes of a healthy upstream append nothing
        assert gateway.call("GET", f"/upstreams/{written['id']}").json()["position"] == position
    finally:
        server.stop()
        upstream.stop()


def test_another_ledgergate_works_as_an_upstream_with_its_prefixed_names(
    tmp_path: Path, http_upstream: Upstream
) -> None:
    inner_data, outer_data = tmp_path / "inner", tmp_path / "outer"
    inner = start_server(inner_data)
    outer = start_server(outer_data)
    try:
        inner_gw = Gateway(inner, (inner_data / "admin-token").read_text().strip())
        outer_gw = Gateway(outer, (outer_data / "admin-token").read_text().strip())
        inner_written = inner_gw.register({"name": "alpha", "transport": "streamable_http", "url": http_upstream.url})
        inner_gw.wait(inner_written["position"])
        written = outer_gw.register(
            {
                "name": "inner",
                "transport": "streamable_http",
                "url": inner.url + "/mcp",
                "auth": {"type": "bearer", "token": inner_gw.token},
            }
        )
        outer_gw.wait(written["position"])
        stored = outer_gw.call("GET", f"/upstreams/{written['id']}").json()
        assert stored["auth"]["token"] == "********"

        async def run() -> tuple[list[str], str]:
            async with outer_gw.client() as session:
                names = sorted(t.name for t in (await session.list_tools()).tools)
                return names, (await session.call_tool("inner__alpha__whoami", {})).content[0].text

        names, answer = asyncio.run(run())
        assert "inner__alpha__whoami" in names
        assert answer == "alpha"
    finally:
        inner.stop()
        outer.stop()


@pytest.mark.parametrize(
    ("mode", "expected"), [("per_client", [["1", "2"], ["1", "2"]]), ("shared", [["1", "2"], ["3", "4"]])]
)
def test_a_per_client_upstream_keeps_one_upstream_session_per_downstream_session(
    gateway: Gateway, mode: str, expected: list[list[str]]
) -> None:
    body = {**stdio_body("counting"), "session_mode": mode}
    written = gateway.register(body)
    gateway.wait(written["position"])

    async def session_counts() -> list[str]:
        async with gateway.client() as session:
            return [(await session.call_tool("counting__counter", {})).content[0].text for _ in range(2)]

    async def two_clients() -> list[list[str]]:
        return [await session_counts(), await session_counts()]

    assert asyncio.run(two_clients()) == expected


def test_progress_of_an_upstream_tool_is_relayed_to_the_client(gateway: Gateway, http_upstream: Upstream) -> None:
    written = gateway.register({"name": "alpha", "transport": "streamable_http", "url": http_upstream.url})
    gateway.wait(written["position"])
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def run() -> str:
        async with gateway.client() as session:
            result = await session.call_tool("alpha__slow_steps", {}, progress_callback=on_progress)
            return str(result.content[0].text)

    assert asyncio.run(run()) == "done"
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


def test_the_published_mcp_server_time_works_as_a_stdio_upstream(gateway: Gateway) -> None:
    written = gateway.register(
        {
            "name": "time",
            "transport": "stdio",
            "command": sys.executable,
            "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
        }
    )
    assert sorted(i["name"] for i in written["report"]["added"]) == ["convert_time", "get_current_time"]
    gateway.wait(written["position"])

    async def run() -> str:
        async with gateway.client() as session:
            result = await session.call_tool("time__get_current_time", {"timezone": "Europe/Paris"})
            return str(result.content[0].text)

    assert '"timezone": "Europe/Paris"' in asyncio.run(run())


def test_only_a_platform_admin_may_register_a_command_to_run_on_the_gateway_host(gateway: Gateway) -> None:
    created = gateway.call("POST", "/tokens", json={"name": "tenant-admin", "role": "admin"}).json()
    response = httpx.post(
        gateway.server.url + "/v1/tenants/default/upstreams",
        timeout=30,
        headers={"Authorization": f"Bearer {created['token']}"},
        json=stdio_body("sneaky"),
    )
    assert response.status_code == 403

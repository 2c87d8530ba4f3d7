"""Tasks (2025-11-25) pass through the gateway: a hand-written upstream that runs tool calls as tasks
(``tests/support/tasks_upstream.py``, a real process), reached through a real ``ledgergate serve``.

The official SDK client (2.x has no tasks) lists the tools; the task calls are raw JSON-RPC. The gateway's
task ids are sealed and bound to their owner: another token, another tenant or an altered id is refused
-32602, and an id outlives the gateway process that gave it (no state of the gateway's own).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conformance import stack
from tests.api.conftest import start_server
from tests.support.mcp_raw import ACCEPT, LEGACY, modern_rpc
from tests.support.processes import serving

pytestmark = pytest.mark.slow

TASKS = {"tasks": {"cancel": {}, "requests": {"tools": {"call": {}}}}}


@dataclass
class World:
    workdir: Path
    gateway: stack.Gateway
    published: stack.Published
    other_tenant: stack.Published
    second_token: str

    def path(self, published: stack.Published | None = None) -> str:
        return f"{self.gateway.url}/servers/{(published or self.published).server_id}/mcp"


class Session:
    """A raw legacy session on one endpoint."""

    def __init__(self, url: str, token: str, capabilities: dict[str, Any], version: str = LEGACY) -> None:
        self.url, self.token, self.version = url, token, version
        self.ids = iter(range(1, 1_000_000))
        params = {"protocolVersion": version, "capabilities": capabilities, "clientInfo": {"name": "t", "version": "1"}}
        answer = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params},
            headers=self._headers(),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        self.id = answer.headers["mcp-session-id"]
        self.initialized = answer.json()["result"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        httpx.post(url, json=note, headers=self._headers(self.id), timeout=30)

    def _headers(self, session: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": ACCEPT, "Content-Type": "application/json"}
        return headers | ({"Mcp-Session-Id": session, "MCP-Protocol-Version": self.version} if session else {})

    def rpc(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}
        response = httpx.post(self.url, json=body, headers=self._headers(self.id), timeout=60)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
            return [m for m in messages if m.get("id") == body["id"]][-1]  # type: ignore[no-any-return]
        return response.json()  # type: ignore[no-any-return]

    def result(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = self.rpc(method, params)
        assert "result" in answer, answer
        return answer["result"]  # type: ignore[no-any-return]

    def until(self, task_id: str, status: str, timeout_s: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            task = self.result("tasks/get", {"taskId": task_id})
            if task["status"] == status or time.monotonic() > deadline:
                return task
            time.sleep(0.05)


def _text(result: dict[str, Any]) -> str:
    return " ".join(c["text"] for c in result.get("content", []) if c.get("type") == "text")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("tasks")
    with ExitStack() as exits:
        url = exits.enter_context(serving("tests.support.tasks_upstream"))
        gateway = stack.start_gateway(workdir, "gateway")
        exits.callback(lambda: world.gateway.process.stop())
        upstream = {"transport": "streamable_http", "url": url}
        published = stack.publish(gateway, "tasks-a", upstream)
        other = stack.publish(gateway, "tasks-b", upstream)
        second = gateway.api("POST", "/tenants/tasks-a/tokens", {"name": "second", "role": "client"})["token"]
        world = World(workdir, gateway, published, other, second)
        yield world


def test_the_tools_execution_and_the_tasks_capability_reach_the_client(world: World) -> None:
    async def listed() -> dict[str, Any]:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {world.published.token}"})
        async with Client(streamable_http_client(world.path(), http_client=http), mode="legacy") as client:
            tools = (await client.list_tools()).tools
            return {tool.name: tool.execution.task_support if tool.execution else None for tool in tools}

    assert asyncio.run(listed()) == {"slow_sum": "optional", "report": "required", "broken": "optional", "plain": None}
    capabilities = Session(world.path(), world.published.token, TASKS).initialized["capabilities"]
    assert capabilities["tasks"] == TASKS["tasks"]  # cancel and tools/call; tasks/list is not offered
    older = Session(world.path(), world.published.token, TASKS, "2025-06-18")
    assert "tasks" not in older.initialized["capabilities"]  # a revision without tasks
    created = older.result("tools/call", {"name": "slow_sum", "arguments": {"a": 1, "b": 1}, "task": {}})
    assert "task" not in created and _text(created) == "2"
    discovered = modern_rpc(httpx.Client(timeout=30), world.path(), world.published.token, "server/discover").json()
    assert "tasks" not in discovered["result"]["capabilities"]  # 2026-07-28: the extension is not offered


def test_a_task_augmented_call_is_polled_and_its_result_fetched_by_the_gateways_task_id(world: World) -> None:
    session = Session(world.path(), world.published.token, TASKS)
    arguments = {"a": 2, "b": 3, "delay_s": 0.3}
    created = session.result("tools/call", {"name": "slow_sum", "arguments": arguments, "task": {"ttl": 30_000}})
    task = created["task"]
    task_id = task["taskId"]
    assert task_id.startswith("lgt1.") and task["status"] == "working" and task["ttl"] == 30_000
    assert created["_meta"]["io.modelcontextprotocol/model-immediate-response"] == "slow_sum is running"
    done = session.until(task_id, "completed")
    assert done["status"] == "completed" and done["taskId"] == task_id
    result = session.result("tasks/result", {"taskId": task_id})
    assert _text(result) == "5"
    assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task_id}
    deadline = time.monotonic() + 10  # the fetch is a call line of its own, about the task's tool; polls are not
    while not (calls := _calls(world, "tasks/result")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert calls and calls[-1]["tool"] == "slow_sum" and calls[-1]["outcome"] == "ok", calls
    assert calls[-1]["token_id"] and not _calls(world, "tasks/get")


def _calls(world: World, method: str) -> list[dict[str, Any]]:
    lines = world.gateway.process.log.read_text(errors="replace").splitlines()
    return [
        line
        for line in (json.loads(text) for text in lines if text.startswith("{"))
        if line.get("event") == "mcp.call" and line.get("method") == method
    ]


def test_tasks_result_waits_for_a_required_task_and_a_failed_task_gives_its_result(world: World) -> None:
    session = Session(world.path(), world.published.token, TASKS)
    refused = session.rpc("tools/call", {"name": "report", "arguments": {}})
    assert refused["error"]["code"] == -32601, refused  # the upstream: this tool must run as a task
    task_id = session.result("tools/call", {"name": "report", "arguments": {"delay_s": 0.5}, "task": {}})["task"][
        "taskId"
    ]
    assert _text(session.result("tasks/result", {"taskId": task_id})) == "the report is ready"
    assert session.result("tasks/get", {"taskId": task_id})["status"] == "completed"
    broken = session.result("tools/call", {"name": "broken", "arguments": {}, "task": {}})["task"]["taskId"]
    assert session.until(broken, "failed")["status"] == "failed"
    failed = session.result("tasks/result", {"taskId": broken})
    assert failed["isError"] is True and _text(failed) == "it broke"


def test_a_task_is_cancelled_once_and_a_tool_without_task_support_refuses_one(world: World) -> None:
    session = Session(world.path(), world.published.token, TASKS)
    task_id = session.result("tools/call", {"name": "report", "arguments": {"delay_s": 30}, "task": {}})["task"][
        "taskId"
    ]
    cancelled = session.result("tasks/cancel", {"taskId": task_id})
    assert cancelled["status"] == "cancelled" and cancelled["taskId"] == task_id
    again = session.rpc("tasks/cancel", {"taskId": task_id})
    assert again["error"]["code"] == -32602, again  # already terminal
    plain = session.rpc("tools/call", {"name": "plain", "arguments": {}, "task": {}})
    assert plain["error"] == {"code": -32601, "message": "Tool plain does not run as a task"}, plain  # the gateway's
    bad = session.rpc("tools/call", {"name": "slow_sum", "arguments": {}, "task": {"ttl": "soon"}})
    assert bad["error"]["code"] == -32602, bad


def test_a_client_that_did_not_declare_tasks_is_never_answered_with_a_task(world: World) -> None:
    session = Session(world.path(), world.published.token, {})
    result = session.result("tools/call", {"name": "slow_sum", "arguments": {"a": 1, "b": 1}, "task": {}})
    assert "task" not in result and _text(result) == "2"
    # the upstream is not sent the task: the gateway drops it, and never adds one of its own
    assert json.loads(_text(session.result("tools/call", {"name": "plain", "arguments": {}, "task": {}}))) == {
        "task": False
    }
    declaring = Session(world.path(), world.published.token, TASKS)
    assert json.loads(_text(declaring.result("tools/call", {"name": "plain", "arguments": {}}))) == {"task": False}
    modern = modern_rpc(
        httpx.Client(timeout=30),
        world.path(),
        world.published.token,
        "tools/call",
        {"name": "slow_sum", "arguments": {"a": 1, "b": 2}, "task": {}},
    ).json()
    assert "task" not in modern["result"] and _text(modern["result"]) == "3"
    get = modern_rpc(httpx.Client(timeout=30), world.path(), world.published.token, "tasks/get", {"taskId": "x"})
    assert get.status_code == 404 and get.json()["error"]["code"] == -32601


def test_a_task_id_of_another_token_or_tenant_or_altered_is_refused(world: World) -> None:
    owner = Session(world.path(), world.published.token, TASKS)
    task_id = owner.result("tools/call", {"name": "slow_sum", "arguments": {"a": 1, "b": 2}, "task": {}})["task"][
        "taskId"
    ]
    other_token = Session(world.path(), world.second_token, TASKS)
    other_tenant = Session(world.path(world.other_tenant), world.other_tenant.token, TASKS)
    tenant_wide = Session(f"{world.gateway.url}/mcp", world.published.token, TASKS)
    flipped = task_id[:-3] + ("A" if task_id[-3] != "A" else "B") + task_id[-2:]
    for session, given in (
        (other_token, task_id),
        (other_tenant, task_id),
        (tenant_wide, task_id),  # bound to the endpoint it was made on too
        (owner, flipped),
        (owner, "786512e2-9e0d-44bd-8f29-789f320fe840"),
    ):
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            answer = session.rpc(method, {"taskId": given})
            assert answer["error"]["code"] == -32602, (method, answer)
    assert owner.rpc("tasks/get", {})["error"]["code"] == -32602
    listed = owner.rpc("tasks/list", {})
    assert listed["error"]["code"] == -32601, listed
    assert owner.until(task_id, "completed")["status"] == "completed"  # still the owner's


def test_a_task_id_outlives_the_gateway_process_that_gave_it(world: World) -> None:
    session = Session(world.path(), world.published.token, TASKS)
    task_id = session.result("tools/call", {"name": "slow_sum", "arguments": {"a": 4, "b": 5}, "task": {}})["task"][
        "taskId"
    ]
    world.gateway.process.stop()
    world.gateway = stack.start_gateway(world.workdir, "gateway")  # the same data: the same instance key
    stack.wait_until(lambda: stack._lists(4, world.path(), world.published.token), world.gateway.process, "tools")
    later = Session(world.path(), world.published.token, TASKS)
    assert later.until(task_id, "completed")["status"] == "completed"
    assert _text(later.result("tasks/result", {"taskId": task_id})) == "9"


@pytest.mark.postgres
@pytest.mark.redis
def test_a_task_created_through_one_process_is_followed_through_another(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """Two ``serve`` processes (three workers) of one instance: nothing about the task is shared but its id."""
    with ExitStack() as exits:
        url = exits.enter_context(serving("tests.support.tasks_upstream"))
        data = tmp_path / "data"
        first = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
        exits.callback(first.stop)
        second = start_server(data, postgres_url, workers=2, LEDGERGATE_REDIS_URL=redis_url)
        exits.callback(second.stop)
        admin = {"Authorization": f"Bearer {(data / 'admin-token').read_text().strip()}"}

        def api(path: str, body: dict[str, Any]) -> Any:
            answer = httpx.post(f"{first.url}/v1{path}", json=body, headers=admin, timeout=60)
            assert answer.status_code < 300, answer.text
            return answer.json()

        api("/tenants", {"name": "tasks-scale"})
        upstream = {"name": "fixture", "prefix": {"enabled": False}, "transport": "streamable_http", "url": url}
        registered = api("/tenants/tasks-scale/upstreams", upstream)
        server = api("/tenants/tasks-scale/servers", {"name": "tasks", "upstream_ids": [registered["id"]]})
        token = api("/tenants/tasks-scale/tokens", {"name": "client", "role": "client"})["token"]
        paths = [f"{gateway.url}/servers/{server['id']}/mcp" for gateway in (first, second)]
        deadline = time.monotonic() + 30
        while not all(stack._lists(4, path, token) for path in paths):
            assert time.monotonic() < deadline, "the tools did not reach both processes"
            time.sleep(0.2)
        made = Session(paths[0], token, TASKS)
        created = made.result("tools/call", {"name": "slow_sum", "arguments": {"a": 20, "b": 22}, "task": {}})
        task_id = created["task"]["taskId"]
        followed = Session(paths[1], token, TASKS)
        assert followed.until(task_id, "completed")["status"] == "completed"
        assert _text(followed.result("tasks/result", {"taskId": task_id})) == "42"
        assert followed.rpc("tasks/cancel", {"taskId": task_id})["error"]["code"] == -32602  # already terminal

"""The upstream session of a ``per_client`` HTTP upstream lives in the downstream session's record,
so any gateway process continues it."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import start_server
from tests.e2e.test_mcp_scale_out import rpc
from tests.support.asking_upstream import running

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

INIT = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}


def counter(url: str, token: str, session: str) -> str:
    reply = rpc(url, token, session, "tools/call", {"name": "stateful__session_counter", "arguments": {}})
    assert reply.status_code == 200, reply.text
    result = reply.json()["result"]
    assert not result.get("isError"), result
    return str(result["content"][0]["text"])


def open_session(url: str, token: str) -> str:
    session = rpc(url, token, None, "initialize", INIT).headers["Mcp-Session-Id"]
    assert rpc(url, token, session, "notifications/initialized", request_id=None).status_code == 202
    return session


@pytest.mark.parametrize(("mode", "second_client"), [("per_client", ["1", "2"]), ("shared", ["4", "5"])])
def test_an_upstream_session_follows_its_client_across_gateway_processes(
    tmp_path: Path, postgres_url: str, redis_url: str, mode: str, second_client: list[str]
) -> None:
    upstream = ExitStack()
    url = upstream.enter_context(running())
    data = tmp_path / "data"
    first = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
    second = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
    token = (data / "admin-token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        body = {"name": "stateful", "transport": "streamable_http", "url": url, "session_mode": mode}
        created = httpx.post(first.url + "/v1/tenants/default/upstreams", json=body, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        position = created.json()["position"]
        for server in (first, second):
            ready = httpx.get(server.url + f"/v1/tenants/default/tools?min_position={position}", headers=headers)
            assert ready.status_code == 200

        alice = open_session(first.url, token)
        # one upstream session for alice, whichever process serves her next call
        assert [counter(url, token, alice) for url in (first.url, second.url, first.url)] == ["1", "2", "3"]
        bob = open_session(second.url, token)
        assert [counter(url, token, bob) for url in (second.url, first.url)] == second_client

        if mode == "per_client":  # after alice ends her session, her next one has a fresh upstream session
            ended = httpx.delete(first.url + "/mcp", headers=headers | {"Mcp-Session-Id": alice}, timeout=10)
            assert ended.status_code == 200
            assert counter(second.url, token, open_session(second.url, token)) == "1"
    finally:
        first.stop()
        second.stop()
        upstream.close()

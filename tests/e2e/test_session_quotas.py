"""One tenant flooding legacy sessions never ends another tenant's: quotas per token and per tenant,
idle expiry, on the memory store (one process) and on Redis (two workers sharing the sessions)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ServerProcess, start_server
from tests.support.mcp_http import initialize, legacy, new_tenant, wait_until

pytestmark = pytest.mark.slow

PER_TOKEN = 3
PER_TENANT = 5
IDLE_S = 2
STORES = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


def _serve(request: pytest.FixtureRequest, tmp_path: Path, **env: str) -> ServerProcess:
    if request.param == "redis":
        return start_server(
            tmp_path / "data", workers=2, LEDGERGATE_REDIS_URL=request.getfixturevalue("redis_url"), **env
        )
    return start_server(tmp_path / "data", **env)


@pytest.fixture(params=STORES)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    process = _serve(
        request,
        tmp_path,
        LEDGERGATE_SESSIONS_PER_TOKEN=str(PER_TOKEN),
        LEDGERGATE_SESSIONS_PER_TENANT=str(PER_TENANT),
    )
    try:
        yield process
    finally:
        process.stop()


def _admin(server: ServerProcess) -> str:
    return (server.data_dir / "admin-token").read_text().strip()


def _open(http: httpx.Client, server: ServerProcess, token: str) -> str:
    """A new session of ``token`` (waiting until every worker knows the token's tenant)."""
    answer = wait_until(
        lambda: (r := initialize(http, server.url, token)).status_code != 403 and r, "the tenant to be served"
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["Mcp-Session-Id"]


def _alive(http: httpx.Client, server: ServerProcess, token: str, session: str) -> bool:
    answer = legacy(http, server.url, token, session, "tools/list")
    assert answer.status_code in (200, 404), answer.text
    if answer.status_code == 200:
        assert answer.json()["result"] == {"tools": []}
    return answer.status_code == 200


def test_one_tenant_flooding_sessions_ends_only_its_own_flooding_tokens_sessions(server: ServerProcess) -> None:
    with httpx.Client(timeout=10) as http:
        _, (calm,) = new_tenant(http, server.url, _admin(server))
        _, (flood, neighbour) = new_tenant(http, server.url, _admin(server), tokens=2)
        calm_session = _open(http, server, calm)
        neighbour_session = _open(http, server, neighbour)

        flooded = [_open(http, server, flood) for _ in range(40)]  # every one is answered: its own oldest go

        assert [_alive(http, server, flood, s) for s in flooded[-PER_TOKEN:]] == [True] * PER_TOKEN
        assert not any(_alive(http, server, flood, s) for s in flooded[:-PER_TOKEN])
        assert _alive(http, server, calm, calm_session)
        assert _alive(http, server, neighbour, neighbour_session)

        # the least recently used goes, not the oldest: use the oldest survivor, open one more
        survivors = flooded[-PER_TOKEN:]
        assert _alive(http, server, flood, survivors[0])
        newest = _open(http, server, flood)
        assert _alive(http, server, flood, survivors[0])
        assert not _alive(http, server, flood, survivors[1])
        assert _alive(http, server, flood, newest)


def test_a_tenant_at_its_quota_is_refused_new_sessions_and_others_keep_theirs(server: ServerProcess) -> None:
    with httpx.Client(timeout=10) as http:
        _, (calm,) = new_tenant(http, server.url, _admin(server))
        _, tokens = new_tenant(http, server.url, _admin(server), tokens=3)
        calm_session = _open(http, server, calm)
        held = [_open(http, server, tokens[0]) for _ in range(PER_TOKEN)]
        held += [_open(http, server, tokens[1]) for _ in range(PER_TENANT - PER_TOKEN)]

        refused = initialize(http, server.url, tokens[2])

        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        error = refused.json()["error"]
        assert error["code"] == -32003
        assert "tenant" in error["message"] and str(PER_TENANT) in error["message"]
        owners = [tokens[0]] * PER_TOKEN + [tokens[1]] * (PER_TENANT - PER_TOKEN)
        assert all(_alive(http, server, owner, s) for owner, s in zip(owners, held, strict=True))
        assert _alive(http, server, calm, calm_session)
        assert _open(http, server, calm)  # another tenant is not affected

        # a token at its own quota still gets new sessions: they replace its least recently used one
        assert _open(http, server, tokens[0])
        # and a session that ends frees its place in the tenant's quota
        ended = http.delete(
            server.url + "/mcp",
            headers={"Authorization": f"Bearer {tokens[1]}", "Mcp-Session-Id": held[-1]},
        )
        assert ended.status_code == 200
        assert _open(http, server, tokens[2])


@pytest.fixture(params=STORES)
def idle_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    process = _serve(request, tmp_path, LEDGERGATE_SESSION_IDLE_S=str(IDLE_S))
    try:
        yield process
    finally:
        process.stop()


def test_a_session_unused_for_the_idle_time_expires_and_a_used_one_does_not(idle_server: ServerProcess) -> None:
    server = idle_server
    with httpx.Client(timeout=10) as http:
        _, (token,) = new_tenant(http, server.url, _admin(server))
        busy, idle = _open(http, server, token), _open(http, server, token)
        opened = time.monotonic()

        # keep one session in use for well over the idle time; asking about the other would use it
        wait_until(
            lambda: _alive(http, server, token, busy) and time.monotonic() > opened + 2.5 * IDLE_S,
            "the idle time to pass",
            timeout_s=30,
        )
        assert not _alive(http, server, token, idle)
        assert _alive(http, server, token, busy)
        assert _open(http, server, token)
